process GNNIMPUTE_MASK {
    tag "$meta.id"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container 'ghcr.io/gnnimpute/gnnimpute:0.2.0'

    input:
    tuple val(meta), path(h5ad, stageAs: 'input/*')

    output:
    tuple val(meta), path("${prefix}_masked.h5ad"), emit: masked
    tuple val(meta), path("${prefix}_truth.h5ad") , emit: truth
    tuple val("${task.process}"), val('gnnimpute'), eval('gnnimpute --version'), emit: versions_gnnimpute, topic: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    export OMP_NUM_THREADS=${task.cpus} MKL_NUM_THREADS=${task.cpus} OPENBLAS_NUM_THREADS=${task.cpus} NUMBA_NUM_THREADS=${task.cpus}
    export MPLCONFIGDIR="\$PWD/.mplconfig" NUMBA_CACHE_DIR="\$PWD/.numba_cache"

    gnnimpute mask \\
        ${args} \\
        ${h5ad} \\
        ${prefix}_masked.h5ad \\
        ${prefix}_truth.h5ad
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    echo stub run, options: ${args}
    touch ${prefix}_masked.h5ad ${prefix}_truth.h5ad
    """
}

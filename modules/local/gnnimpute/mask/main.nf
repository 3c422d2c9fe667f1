process GNNIMPUTE_MASK {
    tag "$meta.id"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${ task.accelerator ? 'ghcr.io/gnnimpute/gnnimpute:0.1.0-cuda' : 'ghcr.io/gnnimpute/gnnimpute:0.1.0' }"

    input:
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("${prefix}_masked.h5ad"), emit: masked
    tuple val(meta), path("${prefix}_truth.h5ad") , emit: truth
    path "versions.yml"                           , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    gnnimpute_mask.sh \\
        ${args} \\
        ${h5ad} \\
        ${prefix}_masked.h5ad \\
        ${prefix}_truth.h5ad

    gnnimpute_versions.sh "${task.process}" > versions.yml
    """

    stub:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    echo "stub run; options: ${args}"
    touch ${prefix}_masked.h5ad ${prefix}_truth.h5ad

    gnnimpute_versions.sh --stub "${task.process}" > versions.yml
    """
}

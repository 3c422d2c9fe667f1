process GNNIMPUTE_IMPUTE {
    tag "$meta.id"
    label 'process_medium'
    label 'process_gpu'

    conda "${moduleDir}/environment.yml"
    container "${ task.accelerator ? 'ghcr.io/gnnimpute/gnnimpute:0.1.0-cuda' : 'ghcr.io/gnnimpute/gnnimpute:0.1.0' }"

    input:
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    path "versions.yml"                    , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}_imputed"
    if ("$h5ad" == "${prefix}.h5ad") error "Input and output names are the same: set a different ext.prefix for GNNIMPUTE_IMPUTE"
    """
    gnnimpute_impute.sh \\
        --threads ${task.cpus} \\
        ${args} \\
        ${h5ad} \\
        ${prefix}.h5ad

    gnnimpute_versions.sh "${task.process}" > versions.yml
    """

    stub:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}_imputed"
    if ("$h5ad" == "${prefix}.h5ad") error "Input and output names are the same: set a different ext.prefix for GNNIMPUTE_IMPUTE"
    """
    echo "stub run; options: ${args}"
    touch ${prefix}.h5ad

    gnnimpute_versions.sh --stub "${task.process}" > versions.yml
    """
}

process GNNIMPUTE_SIMULATE {
    tag "$meta.id"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${ task.accelerator ? 'ghcr.io/gnnimpute/gnnimpute:0.1.0-cuda' : 'ghcr.io/gnnimpute/gnnimpute:0.1.0' }"

    input:
    val(meta)

    output:
    tuple val(meta), path("${prefix}.h5ad"), emit: h5ad
    path "versions.yml"                    , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    gnnimpute_simulate.sh \\
        ${args} \\
        ${prefix}.h5ad

    gnnimpute_versions.sh "${task.process}" > versions.yml
    """

    stub:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    echo "stub run; options: ${args}"
    touch ${prefix}.h5ad

    gnnimpute_versions.sh --stub "${task.process}" > versions.yml
    """
}

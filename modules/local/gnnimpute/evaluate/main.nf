process GNNIMPUTE_EVALUATE {
    tag "$meta.id"
    label 'process_single'

    conda "${moduleDir}/environment.yml"
    container "${ task.accelerator ? 'ghcr.io/gnnimpute/gnnimpute:0.1.0-cuda' : 'ghcr.io/gnnimpute/gnnimpute:0.1.0' }"

    input:
    tuple val(meta), path(imputed), path(truth)

    output:
    tuple val(meta), path("${prefix}.metrics.json"), emit: json
    path "versions.yml"                            , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    gnnimpute_evaluate.sh \\
        ${args} \\
        --json ${prefix}.metrics.json \\
        ${imputed} \\
        ${truth}

    gnnimpute_versions.sh "${task.process}" > versions.yml
    """

    stub:
    def args = task.ext.args ?: ''
    prefix = task.ext.prefix ?: "${meta.id}"
    """
    echo "stub run; options: ${args}"
    echo '{}' > ${prefix}.metrics.json

    gnnimpute_versions.sh --stub "${task.process}" > versions.yml
    """
}

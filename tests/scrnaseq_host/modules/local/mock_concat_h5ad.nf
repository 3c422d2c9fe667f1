// Mock of scrnaseq 4.0's CONCAT_H5AD (H5AD_CONVERSION): stages every matrix of one
// input_type together, as the real one does, and lists them.
process MOCK_CONCAT_H5AD {
    tag "${meta.input_type}"

    input:
    tuple val(meta), path(h5ads, stageAs: 'input*/*')

    output:
    tuple val(meta), path("${meta.id}_${meta.input_type}_matrix.txt"), emit: list

    script:
    """
    ls input*/*.h5ad | xargs -n1 basename | sort > ${meta.id}_${meta.input_type}_matrix.txt
    """

    stub:
    """
    ls input*/*.h5ad | xargs -n1 basename | sort > ${meta.id}_${meta.input_type}_matrix.txt
    """
}

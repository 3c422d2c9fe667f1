// nf-core/scrnaseq 4.0.0's CONCAT_H5AD (H5AD_CONVERSION): the same inputs, staging (every
// matrix of one input_type in the task directory, so equal names collide as they would
// there), output name and concatenation (templates/concat_h5ad.py restates 4.0.0's template;
// anndata stands in for scanpy's read_h5ad, which is anndata's).
process MOCK_CONCAT_H5AD {
    tag "${meta.input_type}"

    input:
    tuple val(meta), path(h5ad)
    path samplesheet

    output:
    tuple val(meta), path("*.h5ad"), emit: h5ad
    path "versions.yml"            , emit: versions

    script:
    template 'concat_h5ad.py'

    stub:
    """
    touch ${meta.id}_${meta.input_type}_matrix.h5ad
    printf '"%s":\\n    anndata: stub\\n' "${task.process}" > versions.yml
    """
}

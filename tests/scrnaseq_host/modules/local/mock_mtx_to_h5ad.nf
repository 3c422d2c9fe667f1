// Mock of nf-core/scrnaseq 4.0's MTX_TO_H5AD: same output shape and file name, and the
// var layout of its Cell Ranger template (Ensembl IDs as var_names, var['gene_symbols']).
process MOCK_MTX_TO_H5AD {
    tag "${meta.id}_${meta.input_type}"

    input:
    tuple val(meta), val(n_cells)

    output:
    tuple val(meta), path("${meta.id}_${meta.input_type}_matrix.h5ad"), emit: h5ad
    path "versions.yml"                                              , emit: versions

    script:
    """
    #!/usr/bin/env python3
    import anndata, numpy as np, pandas as pd, scipy.sparse as sp
    rng = np.random.default_rng(${n_cells})
    n_genes = 80
    groups = np.repeat([0, 1], ${n_cells} // 2 + 1)[: ${n_cells}]
    base = rng.gamma(0.6, 2.0, size=(2, n_genes))
    counts = rng.poisson(base[groups] * rng.uniform(0.5, 1.5, size=(${n_cells}, 1)))
    counts[:, :3] += rng.poisson(3.0, size=(${n_cells}, 3))  # mitochondrial genes
    counts[: ${n_cells} // 5, :3] += 60                        # a few damaged cells
    # a block of genes no cell of this sample detects, a different block in each sample:
    # per-sample gene QC would keep different genes, and the inner join lose them all
    off = {"S1": slice(60, 70), "S2": slice(70, 80)}.get("${meta.id}", slice(0, 0))
    counts[:, off] = 0
    symbols = ["mt-Co1", "mt-Nd1", "mt-Atp6"] + [f"Gene{j}" for j in range(3, n_genes)]
    adata = anndata.AnnData(
        X=sp.csr_matrix(counts.astype(np.float32)),
        obs=pd.DataFrame({"sample": "${meta.id}"}, index=[f"AAAC{i:06d}-1" for i in range(${n_cells})]),
        var=pd.DataFrame(
            {"gene_symbols": symbols, "feature_types": "Gene Expression", "genome": "mm10"},
            index=[f"ENSMUSG{j:011d}" for j in range(n_genes)],
        ),
    )
    adata.layers["count"] = adata.X.copy()
    adata.write_h5ad("${meta.id}_${meta.input_type}_matrix.h5ad")
    with open("versions.yml", "w") as fh:
        fh.write('"${task.process}":\\n    anndata: ' + anndata.__version__ + '\\n')
    """

    stub:
    """
    touch ${meta.id}_${meta.input_type}_matrix.h5ad
    printf '"%s":\\n    anndata: stub\\n' "${task.process}" > versions.yml
    """
}

// Reads an .h5ad in this module's own environment (its conda environment or container), so
// the checks need nothing from the host: nf-core's nft-anndata plugin in miniature.
process H5AD_SUMMARY {
    tag "$meta.id"
    label 'process_single'

    conda "${moduleDir}/../environment.yml"
    container 'ghcr.io/gnnimpute/gnnimpute:0.2.0'

    input:
    tuple val(meta), path(h5ad)

    output:
    tuple val(meta), path("${h5ad.baseName}.summary.json"), emit: json

    script:
    """
    #!/usr/bin/env python3
    import json

    import anndata
    import numpy as np

    def dense(m):
        return m.toarray() if hasattr(m, "toarray") else np.asarray(m)

    adata = anndata.read_h5ad("${h5ad}")
    x = dense(adata.X)
    summary = {
        "file": "${h5ad.name}",
        "n_obs": adata.n_obs,
        "n_vars": adata.n_vars,
        "obs_columns": sorted(adata.obs.columns),
        "layers": sorted(adata.layers),
        "obsm": sorted(adata.obsm),
        "uns": sorted(adata.uns),
        "x_sum": float(x.sum()),
        "x_integer": bool(np.all(x == np.round(x))),
        "x_nonzero": int((x != 0).sum()),
    }
    for name in adata.layers:
        values = dense(adata.layers[name])
        summary["layer_" + name] = {
            "finite": bool(np.isfinite(values).all()),
            "min": float(values.min()),
            "max": float(values.max()),
            "nonzero": int((values != 0).sum()),
        }
    with open("${h5ad.baseName}.summary.json", "w") as fh:
        json.dump(summary, fh)
    """
}

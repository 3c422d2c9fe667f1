"""Prints a JSON summary of an .h5ad for nf-test assertions (nf-core's nft-anndata plugin
is not available offline): shape, names, layers, obsm/uns keys and value ranges."""

import json
import sys

import anndata
import numpy as np


def dense(m):
    return m.toarray() if hasattr(m, "toarray") else np.asarray(m)


adata = anndata.read_h5ad(sys.argv[1])
x = dense(adata.X)
summary = {
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
    summary[f"layer_{name}"] = {
        "finite": bool(np.isfinite(values).all()),
        "min": float(values.min()),
        "max": float(values.max()),
        "nonzero": int((values != 0).sum()),
    }
print(json.dumps(summary))

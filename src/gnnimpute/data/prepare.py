"""Check and QC the user's AnnData without losing any of it.

QC and validation look at the counts only (X or a layer); the user's object is then subset by the
kept cells and genes, so every obs/var column, layer, obsm, varm, obsp and uns entry survives.
"""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd

from .checks import validate_counts
from .qc import filter_cells_genes, no_qc_summary
from .read import counts_of


def qc_keep_annotations(
    adata: ad.AnnData,
    *,
    layer: str | None,
    no_qc: bool,
    allow_non_integer: bool,
    k: int,
    **thresholds,
) -> tuple[ad.AnnData, dict]:
    """Validate the counts, apply QC, and return the user's AnnData subset alike with the summary."""
    counts = ad.AnnData(
        X=counts_of(adata, layer), obs=pd.DataFrame(index=adata.obs_names), var=adata.var.copy()
    )
    validate_counts(
        counts,
        allow_non_integer=allow_non_integer,
        min_cells=k + 1,
        why=f"k + 1 for the kNN graph, --k {k}",
    )
    if no_qc:
        return adata, no_qc_summary(counts)
    kept, summary = filter_cells_genes(counts, **thresholds)
    if kept.n_obs < k + 1:
        raise ValueError(
            f"too few cells after QC: {kept.n_obs} (need at least {k + 1}: k + 1 for the kNN "
            f"graph, --k {k}); relax the QC options or use --no-qc"
        )
    if kept.shape == adata.shape:
        return adata, summary
    rows = adata.obs_names.get_indexer(kept.obs_names)
    cols = adata.var_names.get_indexer(kept.var_names)
    return adata[np.sort(rows), np.sort(cols)].copy(), summary

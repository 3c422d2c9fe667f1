"""ALRA (Linderman et al. 2022), via the pip package ``halra`` (a Python port).

Run as ALRA is meant to be run: on log-normalized counts, log(1 + 1e4 * x / L_i) (``halra``'s
``normalize=True``), automatic rank choice, default quantile. Its output is mapped back to
normalized-count space with expm1(.) * median(L) / 1e4. Genes or cells with no counts, which
halra drops, come back as zeros.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from . import MethodUnavailable
from ._util import counts, median_library

_SCALE = 1e4  # halra.log_normalize's scale factor


def run(adata, *, seed: int = 0, k: int = 5, **options):
    try:
        import halra
    except Exception as exc:
        raise MethodUnavailable(f"halra not importable: {type(exc).__name__}: {exc}") from exc
    X = counts(adata)
    cells = np.asarray(adata.obs_names, dtype=object)
    genes = np.asarray(adata.var_names, dtype=object)
    with contextlib.redirect_stdout(io.StringIO()):  # halra prints even with verbose=False
        imp, kept_cells, kept_genes = halra.halra(
            X, cells, genes, normalize=True, seed=seed, verbose=False, **options
        )
    ri = adata.obs_names.get_indexer(kept_cells)
    ci = adata.var_names.get_indexer(kept_genes)
    out = np.zeros(X.shape, dtype=np.float32)
    block = np.asarray(imp.toarray() if hasattr(imp, "toarray") else imp, dtype=np.float32)
    out[np.ix_(ri, ci)] = np.expm1(block) * np.float32(median_library(adata) / _SCALE)
    return out

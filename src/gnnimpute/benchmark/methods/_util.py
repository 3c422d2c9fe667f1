"""Shared pieces of the adapters: the normalized-count scale every method returns."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...data.norm import scale_rows, size_factors


def counts(adata) -> sp.csr_matrix:
    return sp.csr_matrix(adata.X, dtype=np.float32)


def library_sizes(adata) -> np.ndarray:
    return np.asarray(counts(adata).sum(axis=1), dtype=np.float64).ravel()


def median_library(adata) -> float:
    lib = library_sizes(adata)
    lib = lib[lib > 0]
    return float(np.median(lib)) if lib.size else 1.0


def normalized(adata) -> sp.csr_matrix:
    """Counts with cell i scaled by median(L) / L_i (float32 CSR)."""
    X = counts(adata)
    return scale_rows(X, size_factors(X))

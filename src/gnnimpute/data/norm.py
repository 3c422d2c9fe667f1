"""Library-size normalization: the one scale that input, output and metrics share."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def size_factors(counts) -> np.ndarray:
    """Per-cell factor s_i = median(L) / L_i, the scale of `sc.pp.normalize_total(target_sum=None)`.

    Cells with no counts get factor 0 rather than a division by zero: they stay all-zero.
    """
    totals = np.asarray(counts.sum(axis=1), dtype=np.float64).ravel()
    positive = totals[totals > 0]
    target = float(np.median(positive)) if positive.size else 1.0
    return np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)


def scale_rows(counts, factors: np.ndarray) -> sp.csr_matrix:
    """Multiply each row by its factor, keeping the matrix sparse, in canonical form (sorted
    columns, no repeats, no stored zeros: what a product with a diagonal matrix gave, without
    its sparse product, whose output came unsorted and cost training a sort of every entry)."""
    out = sp.csr_matrix(counts, dtype=np.float32, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.data *= np.repeat(factors.astype(np.float32), np.diff(out.indptr))
    return out


def log1p(normalized: sp.csr_matrix) -> sp.csr_matrix:
    """log1p of an already normalized sparse matrix, as a new matrix (zeros stay zeros)."""
    out = normalized.copy()
    out.data = np.log1p(out.data)
    return out


def log_normalize(counts) -> sp.csr_matrix:
    """log1p of normalized counts, sparse: the usual input for PCA and for the encoder."""
    return log1p(scale_rows(counts, size_factors(counts)))

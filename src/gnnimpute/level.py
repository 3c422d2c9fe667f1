"""The neighbours' level: for each cell, the mean of its neighbours' non-zero values per gene.

No training. It estimates the value a gene has where it is detected in the cell's context, the
quantity the masking benchmark scores; `gnnimpute.impute` can average it into the model's level
(`level_mix`), and the benchmark's `knn_level` peer is this alone.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def neighbour_level(norm: sp.csr_matrix, nbrs: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Mean of the neighbours' non-zero values per gene; the gene's non-zero mean where none."""
    norm = sp.csr_matrix(norm, dtype=np.float32)
    detected = norm.copy()
    detected.data = (detected.data != 0).astype(np.float32)
    nnz = np.asarray(detected.sum(axis=0)).ravel()
    gene_mean = np.divide(
        np.asarray(norm.sum(axis=0)).ravel(), nnz, out=np.zeros(norm.shape[1]), where=nnz > 0
    ).astype(np.float32)
    n, m = nbrs.shape
    out = np.empty(norm.shape, dtype=np.float32)
    for start in range(0, n, chunk):
        cells = np.arange(start, min(start + chunk, n))
        W = sp.csr_matrix(
            (np.ones(cells.size * m, dtype=np.float32),
             (np.repeat(np.arange(cells.size), m), nbrs[cells].ravel())),
            shape=(cells.size, n),
        )  # fmt: skip
        sums = (W @ norm).toarray()
        hits = (W @ detected).toarray()
        out[cells] = np.where(hits > 0, sums / np.maximum(hits, 1), gene_mean)
    return out

"""The kNN level baseline: no training, the level a gene has where the neighbours detect it.

For each cell and gene, the mean of the gene's non-zero normalized values among the cell's k
nearest neighbours (PCA of log-normalized counts, as `knn`); where no neighbour detects the gene,
the gene's mean non-zero value over all cells. The cell itself is not one of its neighbours, as
in `knn`: a hidden entry is then filled from the neighbours alone, and an observed entry gets the
same treatment as a hidden one. It predicts the quantity the masking metric rewards (the level
where detected), so it isolates how much of a method's margin comes from that choice alone.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...graph import knn_indices, pca
from ...norm import log1p
from ._util import normalized


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


def run(adata, *, seed: int = 0, k: int = 15, n_pcs: int = 50):
    norm = normalized(adata)
    pcs, _ = pca(log1p(norm), n_pcs, random_state=seed)
    return neighbour_level(norm, knn_indices(pcs, k, random_state=seed))

"""The neighbours' level: for each cell, the mean of its neighbours' non-zero values per gene.

No training. It estimates the value a gene has where it is detected in the cell's context, the
quantity the masking benchmark scores; `gnnimpute.impute` can average it into the model's level
(`level_mix`), and the benchmark's `knn_level` peer is this alone.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp


class NeighbourLevel:
    """The neighbours' level for any slice of cells, so the output can be built chunk by chunk."""

    def __init__(self, norm: sp.csr_matrix, nbrs: np.ndarray):
        self.norm = sp.csr_matrix(norm, dtype=np.float32)
        self.detected = self.norm.copy()
        self.detected.data = (self.detected.data != 0).astype(np.float32)
        nnz = np.asarray(self.detected.sum(axis=0)).ravel()
        self.gene_mean = np.divide(
            np.asarray(self.norm.sum(axis=0)).ravel(), nnz,
            out=np.zeros(self.norm.shape[1]), where=nnz > 0,
        ).astype(np.float32)  # fmt: skip
        self.nbrs = nbrs

    def rows(self, rows: slice) -> np.ndarray:
        """Level of the cells in `rows` (float32, rows x genes)."""
        n, m = self.nbrs.shape
        cells = np.arange(n)[rows]
        W = sp.csr_matrix(
            (np.ones(cells.size * m, dtype=np.float32),
             (np.repeat(np.arange(cells.size), m), self.nbrs[cells].ravel())),
            shape=(cells.size, n),
        )  # fmt: skip
        # scipy's sparse products release the GIL: the two run side by side
        with ThreadPoolExecutor(2) as pool:
            sums, hits = pool.map(lambda m: (W @ m).toarray(), (self.norm, self.detected))
        np.divide(sums, hits, out=sums, where=hits > 0)  # in place: no cells x genes temporaries
        np.copyto(sums, self.gene_mean, where=hits == 0)
        return sums


def neighbour_level(norm: sp.csr_matrix, nbrs: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Mean of the neighbours' non-zero values per gene; the gene's non-zero mean where none."""
    source = NeighbourLevel(norm, nbrs)
    n = nbrs.shape[0]
    out = np.empty((n, source.norm.shape[1]), dtype=np.float32)
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        out[rows] = source.rows(rows)
    return out

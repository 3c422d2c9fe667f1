"""kNN averaging: each cell becomes the mean of its k nearest neighbours' normalized counts.

Neighbours come from the same graph builder as gnnimpute (``gnnimpute.graph``: PCA of the
log-normalized counts, exact Euclidean kNN), so the two share one notion of "neighbour". The
cell itself is left out of the mean, so a hidden entry is filled from the neighbours only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...graph import knn_indices, pca
from ...norm import log1p
from ._util import normalized


def run(adata, *, seed: int = 0, k: int = 5, n_pcs: int = 50, include_self: bool = False):
    norm = normalized(adata)
    pcs, _ = pca(log1p(norm), n_pcs, random_state=seed)
    nbrs = knn_indices(pcs, k, random_state=seed)
    n = nbrs.shape[0]
    if include_self:
        nbrs = np.hstack([np.arange(n)[:, None], nbrs])
    m = nbrs.shape[1]
    W = sp.csr_matrix(
        (np.full(n * m, 1.0 / m, dtype=np.float32), (np.repeat(np.arange(n), m), nbrs.ravel())),
        shape=(n, n),
    )
    return np.asarray((W @ norm).toarray(), dtype=np.float32)

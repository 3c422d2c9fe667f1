"""kNN averaging: each cell becomes the mean of its k nearest neighbours' normalized counts.

Neighbours come from the same graph builder as gnnimpute (``gnnimpute.graph``: PCA of the
log-normalized counts, exact Euclidean kNN), so the two share one notion of "neighbour". The
cell itself is left out of the mean, so a hidden entry is filled from the neighbours only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..graph import knn_indices
from ._util import log_normalized, normalized


def _pca(log_norm, n_pcs: int, seed: int) -> np.ndarray:
    """PCA as gnnimpute's graph builder does it (scanpy, arpack, implicit centering)."""
    from .. import graph

    if hasattr(graph, "pca"):
        out = graph.pca(log_norm, n_pcs, random_state=seed)
        return out[0] if isinstance(out, tuple) else out
    return graph.pca_embedding(log_norm, n_pcs, random_state=seed)


def run(adata, *, seed: int = 0, k: int = 5, n_pcs: int = 50, include_self: bool = False):
    norm = normalized(adata)
    pcs = _pca(log_normalized(adata), n_pcs, seed)
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

"""kNN averaging: each cell becomes the mean of its k nearest neighbours' normalized counts.

The computation is `gnnimpute.baseline` (also `gnnimpute baseline --method knn`): neighbours
from the same graph builder as gnnimpute (PCA of the log-normalized counts, exact Euclidean
kNN), so the two share one notion of "neighbour". The cell itself is left out of the mean, so a
hidden entry is filled from the neighbours only.
"""

from __future__ import annotations

import numpy as np

from ...baseline import knn_average, neighbours
from ._util import normalized


def run(adata, *, seed: int = 0, k: int = 5, n_pcs: int = 50, include_self: bool = False):
    norm = normalized(adata)
    nbrs = neighbours(norm, k, n_pcs=n_pcs, seed=seed)
    if include_self:
        nbrs = np.hstack([np.arange(nbrs.shape[0])[:, None], nbrs])
    return knn_average(norm, nbrs)

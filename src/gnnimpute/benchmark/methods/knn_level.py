"""The kNN level baseline: no training, the level a gene has where the neighbours detect it.

For each cell and gene, the mean of the gene's non-zero normalized values among the cell's k
nearest neighbours (PCA of log-normalized counts, as `knn`); where no neighbour detects the gene,
the gene's mean non-zero value over all cells. The cell itself is not one of its neighbours, as
in `knn`: a hidden entry is then filled from the neighbours alone, and an observed entry gets the
same treatment as a hidden one. It predicts the quantity the masking metric rewards (the level
where detected), so it isolates how much of a method's margin comes from that choice alone.
The computation is `gnnimpute.baseline` (also `gnnimpute baseline --method knn-level`).
"""

from __future__ import annotations

from ...baseline import knn_level, neighbours
from ._util import normalized


def run(adata, *, seed: int = 0, k: int = 15, n_pcs: int = 50):
    norm = normalized(adata)
    return knn_level(norm, neighbours(norm, k, n_pcs=n_pcs, seed=seed))

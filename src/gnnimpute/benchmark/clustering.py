"""Clustering scores: k-means and Leiden on the PCA of an imputed matrix, against the labels.

ARI and NMI of k-means with k = the number of labels, and of Leiden at the resolution that yields
that many clusters, both on the PCA of log1p of the imputed values.
"""

from __future__ import annotations

import warnings
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp

from ..errors import InputError


def log_pca(expr, *, n_pcs: int = 50, seed: int = 0) -> np.ndarray:
    """PCA (scanpy, arpack) of log1p of a normalized-count matrix, dense or sparse."""
    import scanpy as sc

    if sp.issparse(expr):
        X = sp.csr_matrix(expr, dtype=np.float32, copy=True)
        X.data = np.log1p(np.maximum(X.data, 0))
    else:
        X = np.log1p(np.maximum(np.asarray(expr, dtype=np.float32), 0))
    n_comps = int(min(n_pcs, X.shape[0] - 1, X.shape[1] - 1))
    tmp = ad.AnnData(X=X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.pca(tmp, n_comps=n_comps, random_state=seed, svd_solver="arpack")
    return np.asarray(tmp.obsm["X_pca"], dtype=np.float32)


def leiden_n_clusters(
    pcs: np.ndarray, n_clusters: int, *, seed: int = 0, n_neighbors: int = 15, max_steps: int = 30
) -> tuple[np.ndarray, float]:
    """Leiden (igraph flavor) on the kNN graph of ``pcs``, bisecting the resolution until it
    yields ``n_clusters`` clusters (or the closest count found). Returns (labels, resolution)."""
    import scanpy as sc

    tmp = ad.AnnData(X=np.zeros((pcs.shape[0], 1), dtype=np.float32))
    tmp.obsm["X_pca"] = pcs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc.pp.neighbors(tmp, use_rep="X_pca", n_neighbors=n_neighbors, random_state=seed)

    def run(res: float) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc.tl.leiden(
                tmp, resolution=res, random_state=seed, flavor="igraph", n_iterations=2,
                directed=False,
            )  # fmt: skip
        return tmp.obs["leiden"].to_numpy().astype(str)

    lo, hi = 0.0, 1.0
    best: tuple[int, float, np.ndarray] | None = None
    for _ in range(6):  # grow hi until it gives enough clusters
        lab = run(hi)
        k = len(np.unique(lab))
        best = _closer(best, k, hi, lab, n_clusters)
        if k >= n_clusters:
            break
        lo, hi = hi, hi * 2
    for _ in range(max_steps):
        if best is not None and best[0] == 0:
            break
        mid = (lo + hi) / 2
        lab = run(mid)
        k = len(np.unique(lab))
        best = _closer(best, k, mid, lab, n_clusters)
        if k < n_clusters:
            lo = mid
        else:
            hi = mid
    assert best is not None
    return best[2], best[1]


def _closer(best, k: int, res: float, lab: np.ndarray, target: int):
    gap = abs(k - target)
    if best is None or gap < best[0]:
        return (gap, res, lab)
    return best


def clustering_metrics(
    expr,
    labels,
    *,
    seed: int = 0,
    n_pcs: int = 50,
    leiden: bool = True,
    pcs: np.ndarray | None = None,
) -> dict[str, Any]:
    """ARI and NMI of k-means and Leiden clusterings of PCA(log1p(expr)) against ``labels``."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    labels = np.asarray(labels).astype(str)
    ok = labels != "nan"
    k = len(np.unique(labels[ok]))
    if k < 2:
        raise InputError("need at least 2 distinct labels for clustering metrics")
    if pcs is None:
        pcs = log_pca(expr, n_pcs=n_pcs, seed=seed)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(pcs)
    out: dict[str, Any] = {
        "ari_kmeans": float(adjusted_rand_score(labels[ok], km[ok])),
        "nmi_kmeans": float(normalized_mutual_info_score(labels[ok], km[ok])),
        "n_labels": int(k),
    }
    if leiden:
        lab, res = leiden_n_clusters(pcs, k, seed=seed)
        out.update(
            ari_leiden=float(adjusted_rand_score(labels[ok], lab[ok])),
            nmi_leiden=float(normalized_mutual_info_score(labels[ok], lab[ok])),
            leiden_resolution=float(res),
            leiden_n_clusters=len(np.unique(lab)),
        )
    return out


# --------------------------------------------------------------------------- file-level evaluate

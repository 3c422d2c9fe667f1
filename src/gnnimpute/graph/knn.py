"""PCA and the kNN cell graph, held as a sparse edge list (never an N x N matrix)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

EXACT_KNN_MAX_CELLS = 50_000  # beyond this, approximate neighbours (pynndescent) pay for themselves


def pca(
    log_norm: sp.spmatrix, n_pcs: int = 50, *, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Principal components (cells x d) and loadings (genes x d) of log-normalized counts.

    Centering is implicit (ARPACK on sparse input), so the matrix stays sparse. This is the
    recipe of `scanpy.pp.pca(svd_solver="arpack")` and scikit-learn's `PCA(svd_solver="arpack")`
    (the same start vector, order and signs), with two changes that only move float rounding:
    ARPACK's products run on torch's CSR kernel, on every thread (scipy's run on one: they were
    nearly all of Baron's 3.5 s), and neither scanpy nor scikit-learn is imported (~1.5 s).
    """
    from scipy.sparse.linalg import LinearOperator, svds

    from ..nn.sampled_product import from_scipy_csr

    x = sp.csr_matrix(log_norm, dtype=np.float32)
    n_comps = int(min(n_pcs, x.shape[0] - 1, x.shape[1] - 1))
    if n_comps < 1:
        raise ValueError(f"PCA needs at least 2 cells and 2 genes, got {log_norm.shape}")
    mean = (np.asarray(x.sum(axis=0, dtype=np.float64)).ravel() / x.shape[0]).astype(np.float32)
    forward, backward = from_scipy_csr(x), from_scipy_csr(x.T.tocsr())
    centred = LinearOperator(
        shape=x.shape,
        dtype=np.float32,
        matvec=lambda v: _product(forward, v) - mean @ v,
        matmat=lambda v: _product(forward, v) - mean @ v,
        rmatvec=lambda u: _product(backward, u) - mean * u.sum(),
        rmatmat=lambda u: _product(backward, u) - mean[:, None] @ u.sum(axis=0)[None, :],
    )
    start = np.random.RandomState(random_state).uniform(-1, 1, min(x.shape))
    u, s, vt = svds(centred, k=n_comps, tol=0.0, v0=start)
    u, s, vt = u[:, ::-1], s[::-1], vt[::-1]  # largest first
    # each axis points where its largest loading is positive (scikit-learn's svd_flip on V)
    signs = np.sign(vt[np.arange(n_comps), np.argmax(np.abs(vt), axis=1)])
    pcs = u * (s * signs)
    return np.asarray(pcs, dtype=np.float32), np.asarray((vt * signs[:, None]).T, dtype=np.float32)


def _product(matrix, dense: np.ndarray) -> np.ndarray:
    """matrix @ dense (a vector or a block of columns) on torch's CSR kernel, as float32."""
    import torch

    block = torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32))
    out = torch.mv(matrix, block) if block.ndim == 1 else matrix @ block
    return out.numpy()


def knn_indices(embedding: np.ndarray, k: int, *, random_state: int = 0) -> np.ndarray:
    """Indices (n_cells x k) of each cell's k nearest other cells, Euclidean."""
    n = embedding.shape[0]
    if n <= k:
        raise ValueError(f"need more than k={k} cells for a kNN graph, got {n}")
    if n <= EXACT_KNN_MAX_CELLS:
        idx = exact_neighbours(embedding, np.arange(n), k + 1)
    else:
        from pynndescent import NNDescent

        index = NNDescent(
            embedding, n_neighbors=k + 1, metric="euclidean", random_state=random_state
        )
        idx, _ = index.neighbor_graph
        idx = _repair_approximate(idx, embedding, k)
    return _drop_self(idx, k)


def _repair_approximate(idx: np.ndarray, embedding: np.ndarray, k: int) -> np.ndarray:
    """Recompute exactly the rows an approximate search left short.

    pynndescent pads a row it could not fill with -1 and can repeat a neighbour; either would
    put a bogus edge (or a wrapped index) into the graph. Such rows are rare, so searching them
    exactly costs little.
    """
    idx = np.asarray(idx, dtype=np.int64)
    rows = np.arange(idx.shape[0])
    srt = np.sort(idx, axis=1)
    repeated = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
    bad = np.flatnonzero((idx < 0).any(axis=1) | repeated | (idx >= rows.size).any(axis=1))
    if bad.size:
        idx = idx.copy()
        idx[bad] = exact_neighbours(embedding, bad, idx.shape[1])
    return idx


def exact_neighbours(embedding: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The k nearest cells (Euclidean; a query finds itself) of each cell in `queries`, nearest
    first, ties by index.

    Brute force in float64 on torch's threads, a block of queries at a time (at most 2^24
    distances, 128 MB): scikit-learn's neighbours for 50 dimensions without its ~1.5 s import,
    about as fast up to 10k cells and half as fast at 50k (17 s against 8 s), where the search is
    still a small part of a run.
    """
    import torch

    points = torch.as_tensor(np.asarray(embedding, dtype=np.float64))
    squares = (points * points).sum(1)
    step = max(1, (1 << 24) // max(points.shape[0], 1))
    queries = torch.as_tensor(np.asarray(queries, dtype=np.int64))
    out = np.empty((queries.numel(), k), dtype=np.int64)
    for start in range(0, queries.numel(), step):
        block = queries[start : start + step]
        dist = torch.addmm(squares[None, :], points[block], points.T, alpha=-2)
        dist += squares[block, None]
        near_dist, near = torch.topk(dist, k, dim=1, largest=False)
        # nearest first; equal distances by cell index, so the result never depends on the sort
        order = np.lexsort((near.numpy(), near_dist.numpy()), axis=1)
        out[start : start + block.numel()] = np.take_along_axis(near.numpy(), order, axis=1)
    return out


def _drop_self(idx: np.ndarray, k: int) -> np.ndarray:
    """Remove each cell from its own list; duplicates of a cell can shift where it appears."""
    rows = np.arange(idx.shape[0])[:, None]
    not_self = idx != rows
    # keep the first k non-self neighbours of each row
    order = np.argsort(~not_self, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)[:, :k]


def knn_edge_index(neighbors: np.ndarray, *, self_loops: bool = True) -> np.ndarray:
    """Symmetric edge list (2 x E, int64) from neighbour lists, with self-loops for the GNN."""
    n, k = neighbors.shape
    src = np.repeat(np.arange(n), k)
    dst = neighbors.ravel()
    adj = sp.coo_matrix((np.ones(src.size, dtype=np.float32), (src, dst)), shape=(n, n)).tocsr()
    adj = adj.maximum(adj.T)
    if self_loops:
        adj = adj.maximum(sp.identity(n, dtype=np.float32, format="csr"))
    adj = adj.tocoo()
    # PyG convention: edge (j -> i) sends j's message to i; the graph is symmetric so order is moot
    return np.vstack([adj.col, adj.row]).astype(np.int64)


def neighbourhood_detection(
    counts: sp.spmatrix, neighbors: np.ndarray, rows: slice | None = None
) -> np.ndarray:
    """Share of each cell's neighbourhood (itself and its neighbours) in which each gene is detected.

    A smooth, data-only estimate of P(detected | context); `rows` limits it to a chunk of cells so
    the dense result stays chunk x genes.
    """
    n, k = neighbors.shape
    rows = rows if rows is not None else slice(0, n)
    cells = np.arange(n)[rows]
    members = np.hstack([cells[:, None], neighbors[cells]])
    # only the member cells' rows are read, so a chunk costs its neighbourhood, not the matrix
    used, members = np.unique(members, return_inverse=True)
    avg = sp.csr_matrix(
        (np.full(members.size, 1.0 / (k + 1), dtype=np.float32),
         (np.repeat(np.arange(cells.size), k + 1), members.ravel())),
        shape=(cells.size, used.size),
    )  # fmt: skip
    detected = sp.csr_matrix(sp.csr_matrix(counts)[used], dtype=np.float32, copy=True)
    detected.data = (detected.data != 0).astype(np.float32)
    return np.asarray((avg @ detected).todense(), dtype=np.float32)

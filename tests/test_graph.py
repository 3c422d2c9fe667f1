import numpy as np
import pytest
import scipy.sparse as sp

from gnnimpute.graph import build_graph, knn_edge_index, knn_indices, pca


def test_knn_excludes_self_and_finds_true_neighbours():
    points = np.array([[0.0], [1.0], [10.0], [11.0], [30.0]])
    idx = knn_indices(points, 1)
    assert idx[:, 0].tolist() == [1, 0, 3, 2, 3]


def test_knn_with_duplicate_points_never_lists_self():
    points = np.zeros((6, 2))
    idx = knn_indices(points, 3)
    assert not np.any(idx == np.arange(6)[:, None])


def test_knn_needs_more_cells_than_k():
    with pytest.raises(ValueError, match="more than k=5"):
        knn_indices(np.zeros((5, 2)), 5)


def test_edge_index_symmetric_with_self_loops():
    nb = np.array([[1], [2], [0], [0]])
    ei = knn_edge_index(nb)
    edges = set(map(tuple, ei.T.tolist()))
    assert all((b, a) in edges for a, b in edges)
    assert all((i, i) in edges for i in range(4))
    assert (3, 0) in edges and (0, 3) in edges
    assert len(edges) == ei.shape[1]  # no duplicate edges
    assert ei.dtype == np.int64


def test_build_graph_is_sparse_and_bounded(rng):
    x = sp.random(300, 80, density=0.2, random_state=0, format="csr", dtype=np.float32)
    pcs, loadings = pca(x, 10)
    assert pcs.shape == (300, 10) and loadings.shape == (80, 10)
    ei = build_graph(pcs, k=5)
    # each cell: <= 2k neighbour edges plus its self-loop; never N x N
    assert ei.shape[0] == 2
    assert 300 * 6 <= ei.shape[1] <= 300 * 11


def test_neighbourhood_detection_is_the_share_of_cell_and_neighbours():
    from gnnimpute.graph import neighbourhood_detection

    counts = sp.csr_matrix(np.array([[1, 0], [0, 0], [3, 0], [0, 5]], dtype=np.float32))
    neighbors = np.array([[1], [0], [3], [2]])
    d = neighbourhood_detection(counts, neighbors)
    np.testing.assert_allclose(d, [[0.5, 0], [0.5, 0], [0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(neighbourhood_detection(counts, neighbors, slice(2, 4)), d[2:])


def test_pca_is_scanpys_arpack_pca_with_implicit_centring():
    """The same numbers as `scanpy.pp.pca(svd_solver="arpack")` (the earlier implementation), so
    no seed's output changed when scanpy's import left the run."""
    import anndata as ad
    import scanpy as sc

    x = sp.random(200, 90, density=0.15, random_state=1, format="csr", dtype=np.float32)
    x.data = np.log1p(x.data * 10)
    pcs, loadings = pca(x, 12, random_state=3)
    ref = ad.AnnData(X=x.copy())
    sc.pp.pca(ref, n_comps=12, random_state=3, svd_solver="arpack")
    np.testing.assert_array_equal(pcs, ref.obsm["X_pca"].astype(np.float32))
    np.testing.assert_array_equal(loadings, ref.varm["PCs"].astype(np.float32))
    centred = x.toarray() - x.toarray().mean(axis=0)
    np.testing.assert_allclose(pcs, centred @ loadings, rtol=1e-3, atol=1e-4)

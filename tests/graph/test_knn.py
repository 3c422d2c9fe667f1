import numpy as np
import pytest
import scipy.sparse as sp
from shared_helpers import imports_module

from gnnimpute.graph.knn import knn_edge_index, knn_indices, pca


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


def test_knn_graph_is_sparse_and_bounded(rng):
    x = sp.random(300, 80, density=0.2, random_state=0, format="csr", dtype=np.float32)
    pcs, loadings = pca(x, 10)
    assert pcs.shape == (300, 10) and loadings.shape == (80, 10)
    ei = knn_edge_index(knn_indices(pcs, 5))
    # each cell: <= 2k neighbour edges plus its self-loop; never N x N
    assert ei.shape[0] == 2
    assert 300 * 6 <= ei.shape[1] <= 300 * 11


def test_neighbourhood_detection_is_the_share_of_cell_and_neighbours():
    from gnnimpute.graph.knn import neighbourhood_detection

    counts = sp.csr_matrix(np.array([[1, 0], [0, 0], [3, 0], [0, 5]], dtype=np.float32))
    neighbors = np.array([[1], [0], [3], [2]])
    d = neighbourhood_detection(counts, neighbors)
    np.testing.assert_allclose(d, [[0.5, 0], [0.5, 0], [0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(neighbourhood_detection(counts, neighbors, slice(2, 4)), d[2:])


def test_pca_is_scanpys_arpack_pca_with_implicit_centring():
    """The numbers of `scanpy.pp.pca(svd_solver="arpack")` (the earlier implementation) to
    float32 ARPACK's precision, with the same order and signs, and the exact dense SVD's."""
    import anndata as ad
    import scanpy as sc

    x = sp.random(200, 90, density=0.15, random_state=1, format="csr", dtype=np.float32)
    x.data = np.log1p(x.data * 10)
    pcs, loadings = pca(x, 12, random_state=3)
    ref = ad.AnnData(X=x.copy())
    sc.pp.pca(ref, n_comps=12, random_state=3, svd_solver="arpack")
    np.testing.assert_allclose(pcs, ref.obsm["X_pca"], rtol=0, atol=2e-3)
    np.testing.assert_allclose(loadings, ref.varm["PCs"], rtol=0, atol=2e-3)
    centred = x.toarray().astype(np.float64)
    centred -= centred.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    np.testing.assert_allclose(np.linalg.norm(pcs, axis=0), s[:12], rtol=1e-4)
    np.testing.assert_allclose(np.abs(loadings), np.abs(vt[:12].T), atol=2e-3)
    np.testing.assert_allclose(pcs, centred @ loadings, rtol=1e-3, atol=1e-4)


def test_pca_without_scikit_learn():
    """A small run never imports scikit-learn (its import is ~1.5 s of a Baron run)."""
    code = (
        "import numpy as np, scipy.sparse as sp\n"
        "from gnnimpute.graph.knn import knn_indices, pca\n"
        "x = sp.random(300, 80, density=0.2, random_state=0, format='csr', dtype=np.float32)\n"
        "knn_indices(pca(x, 10)[0], 5)"
    )
    assert not imports_module(code, "sklearn")


def test_exact_neighbours_are_scikit_learns_and_break_ties_by_index():
    from sklearn.neighbors import NearestNeighbors

    from gnnimpute.graph.knn import exact_neighbours

    points = np.random.default_rng(0).normal(size=(700, 20)).astype(np.float32)
    ours = exact_neighbours(points, np.arange(700), 8)
    ref = NearestNeighbors(n_neighbors=8).fit(points).kneighbors(points, return_distance=False)
    assert np.array_equal(ours, ref)
    assert np.array_equal(exact_neighbours(points, np.array([5, 3]), 8), ref[[5, 3]])
    grid = np.array([[0.0], [1.0], [-1.0], [2.0], [-2.0]])  # 1 and 2 tie for 0, as do 3 and 4
    assert exact_neighbours(grid, np.array([0]), 5).tolist() == [[0, 1, 2, 3, 4]]

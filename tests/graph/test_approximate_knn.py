"""Approximate neighbours (pynndescent) for large data: duplicates and padding repaired."""

import numpy as np
import pytest

import gnnimpute.graph.knn as graph


@pytest.mark.slow  # pynndescent's first call compiles (numba): ~30-60 s
def test_pynndescent_above_threshold_handles_duplicates(monkeypatch):
    monkeypatch.setattr(graph, "EXACT_KNN_MAX_CELLS", 10)
    rng = np.random.default_rng(0)
    base = rng.normal(size=(60, 5)).astype(np.float32)
    emb = np.vstack([base, base, np.zeros((30, 5), np.float32)])  # exact duplicates, a tie block
    nb = graph.knn_indices(emb, 5)
    assert nb.shape == (150, 5) and nb.min() >= 0 and nb.max() < 150
    assert not (nb == np.arange(150)[:, None]).any()  # never its own neighbour
    assert all(len(set(r)) == 5 for r in nb)  # no repeats
    assert (nb[:60] == np.arange(60, 120)[:, None]).any(axis=1).all()  # a twin is nearest


def test_approximate_neighbours_padding_repeats_and_overflow_are_repaired():
    rng = np.random.default_rng(0)
    # pynndescent's failure modes, injected: -1 padding, a repeated neighbour, an index past n
    from sklearn.neighbors import NearestNeighbors

    points = rng.normal(size=(12, 2))
    exact = NearestNeighbors(n_neighbors=6).fit(points).kneighbors(points, return_distance=False)
    idx = exact.copy()
    idx[3, 5] = -1
    idx[4, 5] = idx[4, 4]
    idx[5, 2] = 99
    idx[[0, 1, 2, 6], 1:] = idx[[0, 1, 2, 6], 1:][:, ::-1]  # valid, if oddly ordered: kept
    fixed = graph._repair_approximate(idx, points, 5)
    np.testing.assert_array_equal(fixed[[3, 4, 5]], exact[[3, 4, 5]])
    np.testing.assert_array_equal(fixed[[0, 1, 2, 6]], idx[[0, 1, 2, 6]])  # good rows untouched

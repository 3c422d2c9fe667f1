"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gnnimpute.benchmark import metrics as M
from gnnimpute.benchmark.mask import make_mask_pair, make_split_pair


def test_hidden_entry_metrics_by_hand():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 3.0, 2.0, 5.0])
    rows = np.array([0, 0, 1, 1])
    r = M.hidden_entry_metrics(t, p, rows)
    assert r["mse"] == pytest.approx(0.75)  # (0 + 1 + 1 + 1) / 4
    assert r["mae"] == pytest.approx(0.75)
    # pooled Pearson: sum(dt*dp) = 5.5, sum(dt^2) = 5, sum(dp^2) = 8.75
    assert r["pcc"] == pytest.approx(5.5 / math.sqrt(5 * 8.75))
    # pooled cosine: 33 / sqrt(30 * 39)
    assert r["cosine"] == pytest.approx(33 / math.sqrt(30 * 39))
    # per cell: both cells have PCC 1; cosines 7/sqrt(50) and 26/sqrt(725)
    assert r["pcc_cell_mean"] == pytest.approx(1.0)
    assert r["cosine_cell_mean"] == pytest.approx((7 / math.sqrt(50) + 26 / math.sqrt(725)) / 2)
    assert r["n_hidden"] == 4 and r["n_cells_pcc"] == 2


def test_degenerate_correlations():
    assert math.isnan(M.pearson(np.array([1.0, 2.0]), np.zeros(2)))
    assert M.cosine(np.array([1.0, 2.0]), np.zeros(2)) == 0.0
    # a cell with one hidden entry has no PCC and is left out of the mean
    r = M.hidden_entry_metrics(
        np.array([1.0, 2.0, 5.0]), np.array([2.0, 4.0, 1.0]), np.array([0, 0, 1])
    )
    assert r["pcc_cell_mean"] == pytest.approx(1.0) and r["n_cells_pcc"] == 1


def test_mask_metrics_normalize_by_masked_library():
    original = sp.csr_matrix(np.array([[2.0, 0.0, 4.0], [1.0, 3.0, 0.0]]))
    masked = sp.csr_matrix(np.array([[2.0, 0.0, 0.0], [1.0, 3.0, 0.0]]))  # (0, 2) hidden
    # masked library sizes 2 and 4, median 3: s = (1.5, 0.75); truth at (0, 2) is 4 * 1.5 = 6
    imputed = np.array([[3.0, 0.0, 5.0], [0.75, 2.25, 0.0]])
    r = M.mask_metrics(imputed, original, masked, np.array([0]), np.array([2]))
    assert r["mse"] == pytest.approx(1.0)
    assert r["mae"] == pytest.approx(1.0)


def test_mcv_metrics_by_hand():
    test = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]))
    train_lib = np.array([2.0, 2.0])  # s = 1 for both cells
    imputed = np.ones((2, 2))
    r = M.mcv_metrics(imputed, test, train_lib)
    # normalize to median test library 1.5, log1p
    a, b = math.log1p(1.5), math.log1p(0.75)
    assert r["mcv_mse"] == pytest.approx(((a - b) ** 2 + b**2) / 2)
    # denoised scaled by sum(test) / sum(train) = 3 / 4 -> mu = 0.75 everywhere
    y = np.array([1.0, 0.0, 0.0, 2.0])
    mu = 0.75
    assert r["mcv_poisson"] == pytest.approx(np.mean(y - mu * np.log(y + 1e-6)))
    assert r["mcv_poisson_nll"] == pytest.approx(np.mean(mu - y * np.log(mu + 1e-6)))


def test_mcv_perfect_prediction_has_zero_mse():
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(3.0, size=(30, 20)).astype(np.float32))
    lib = np.asarray(X.sum(axis=1)).ravel()
    s = np.median(lib) / lib
    r = M.mcv_metrics(X.toarray() * s[:, None], X, lib)
    assert r["mcv_mse"] == pytest.approx(0.0, abs=1e-12)


def test_truth_metrics_perfect_and_dropout():
    rng = np.random.default_rng(1)
    truth = rng.poisson(5.0, size=(40, 30)).astype(np.float64) + 1
    obs = truth.copy()
    obs[rng.random(obs.shape) < 0.3] = 0
    r = M.truth_metrics(truth * 3.0, sp.csr_matrix(truth), sp.csr_matrix(obs))
    assert r["truth_mse_log"] == pytest.approx(0.0, abs=1e-12)
    assert r["truth_pcc_log"] == pytest.approx(1.0)
    assert r["truth_pcc_dropout"] == pytest.approx(1.0)


def _blobs(n=60, g=30, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(["a", "b", "c"], n // 3)
    means = rng.gamma(1.0, 2.0, size=(3, g))
    means[0, :10] += 30
    means[1, 10:20] += 30
    means[2, 20:] += 30
    idx = np.repeat(np.arange(3), n // 3)
    return rng.poisson(means[idx]).astype(np.float32), labels


def test_clustering_metrics_recover_separated_groups():
    X, labels = _blobs()
    r = M.clustering_metrics(X, labels, seed=0, n_pcs=10)
    assert r["n_labels"] == 3
    assert r["ari_kmeans"] == pytest.approx(1.0)
    assert r["nmi_kmeans"] == pytest.approx(1.0)
    assert r["leiden_n_clusters"] == 3
    assert r["ari_leiden"] == pytest.approx(1.0)


def test_evaluate_aligns_subset_and_order():
    X, labels = _blobs()
    adata = ad.AnnData(
        X=sp.csr_matrix(X),
        obs=pd.DataFrame({"cell_type": labels}, index=[f"c{i}" for i in range(len(labels))]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(X.shape[1])]),
    )
    masked, truth = make_mask_pair(adata, 0.2, seed=0)
    # perfect imputation: the original counts on the masked scale
    lib = np.asarray(masked.X.sum(axis=1)).ravel()
    perfect = X * (np.median(lib) / lib)[:, None]
    imp = ad.AnnData(X=masked.X, obs=masked.obs, var=masked.var)
    imp.layers["gnnimpute"] = perfect.astype(np.float32)
    r = M.evaluate(imp, truth, label_key="cell_type", leiden=False)
    assert r["protocol"] == "mask" and r["mse"] == pytest.approx(0.0, abs=1e-6)
    assert r["pcc"] == pytest.approx(1.0)
    assert r["ari_kmeans"] == pytest.approx(1.0)
    # reordered cells: same scores
    perm = np.random.default_rng(0).permutation(imp.n_obs)
    r2 = M.evaluate(imp[perm].copy(), truth, leiden=False)
    assert r2["mse"] == pytest.approx(0.0, abs=1e-6) and r2["n_hidden"] == r["n_hidden"]


def test_evaluate_split():
    """A perfect denoiser (the test counts at the train depth) scores mcv_mse 0 and the Poisson
    losses computed by hand; the unimputed train counts score worse."""
    X, _ = _blobs()
    adata = ad.AnnData(X=sp.csr_matrix(X))
    train, test = make_split_pair(adata, 0.9, seed=0)
    lib = np.asarray(train.X.sum(axis=1), dtype=np.float64).ravel()
    y = test.X.toarray().astype(np.float64)
    test_lib = y.sum(axis=1)
    assert np.all(test_lib > 0) and np.all(lib > 0)
    den = y * (lib / test_lib)[:, None]  # the test profile at the train depth
    imp = ad.AnnData(X=train.X)
    imp.layers["gnnimpute"] = den * (np.median(lib) / lib)[:, None]  # normalized-count space
    r = M.evaluate(imp, test)
    assert r["protocol"] == "split" and r["train_frac"] == 0.9
    assert r["mcv_mse"] == pytest.approx(0.0, abs=1e-12)
    mu = den * (y.sum() / lib.sum())
    assert r["mcv_poisson"] == pytest.approx(np.mean(y - mu * np.log(y + 1e-6)), rel=1e-9)
    assert r["mcv_poisson_nll"] == pytest.approx(np.mean(mu - y * np.log(mu + 1e-6)), rel=1e-9)
    baseline = ad.AnnData(X=train.X)
    baseline.layers["gnnimpute"] = train.X.toarray() * (np.median(lib) / lib)[:, None]
    worse = M.evaluate(baseline, test)
    assert worse["mcv_mse"] > 0.01 and worse["mcv_poisson_nll"] > r["mcv_poisson_nll"]

"""Metrics against values computed by hand."""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gnnimpute.benchmark import clustering as C
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
    # the NLL rescales each cell to its test total: cell 0 (total 1) mu = 0.5, 0.5; cell 1
    # (total 2) mu = 1, 1. Entries: 0.5 - log 0.5, 0.5, 1, 1 - 2 log 1
    nll = (0.5 - math.log(0.5 + 1e-6) + 0.5 + 1.0 + 1.0 - 2 * math.log(1.0 + 1e-6)) / 4
    assert r["mcv_poisson_nll"] == pytest.approx(nll, rel=1e-9)


def test_mcv_poisson_nll_rescales_each_cell_to_its_test_total():
    """A hand computation on a 2 x 3 matrix: the denoised profile is what is scored, not its
    depth, so scaling a cell's denoised values changes nothing; the profile does."""
    test = sp.csr_matrix(np.array([[2.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    train_lib = np.array([4.0, 1.0])  # s = (2.5/4, 2.5/1): cancels in the per-cell rescaling
    imputed = np.array([[1.0, 2.0, 1.0], [0.0, 6.0, 3.0]])
    r = M.mcv_metrics(imputed, test, train_lib)
    # cell 0: total 4, profile (1/4, 2/4, 1/4) -> mu = (1, 2, 1); cell 1: total 3, profile
    # (0, 2/3, 1/3) -> mu = (0, 2, 1)
    eps = 1e-6
    terms = [1 - 2 * math.log(1 + eps), 2.0, 1 - 2 * math.log(1 + eps),
             0.0, 2 - 3 * math.log(2 + eps), 1.0]  # fmt: skip
    assert r["mcv_poisson_nll"] == pytest.approx(sum(terms) / 6, rel=1e-9)
    deeper = M.mcv_metrics(imputed * np.array([[3.0], [0.5]]), test, train_lib)
    assert deeper["mcv_poisson_nll"] == pytest.approx(r["mcv_poisson_nll"], rel=1e-9)
    # the true profile scores better than a flat one (a likelihood, unlike Open Problems')
    flat = M.mcv_metrics(np.ones((2, 3)), test, train_lib)
    assert flat["mcv_poisson_nll"] > r["mcv_poisson_nll"]
    assert M.poisson_nll_rescaled(imputed, test.toarray()) == pytest.approx(sum(terms) / 6)


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
    r = C.clustering_metrics(X, labels, seed=0, n_pcs=10)
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
    # rescaled per cell to its test total, the test profile is the test counts themselves
    assert r["mcv_poisson_nll"] == pytest.approx(np.mean(y - y * np.log(y + 1e-6)), rel=1e-9)
    baseline = ad.AnnData(X=train.X)
    baseline.layers["gnnimpute"] = train.X.toarray() * (np.median(lib) / lib)[:, None]
    worse = M.evaluate(baseline, test)
    assert worse["mcv_mse"] > 0.01 and worse["mcv_poisson_nll"] > r["mcv_poisson_nll"]

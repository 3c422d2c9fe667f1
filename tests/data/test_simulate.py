"""Tests of the Splat simulator: the output contract and the model's behaviour."""

from __future__ import annotations

import inspect

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gnnimpute._constants import GROUP_KEY, TRUTH_LAYER
from gnnimpute.data.simulate import simulate_splat
from gnnimpute.errors import InputError

SMALL = {"n_cells": 120, "n_genes": 300}


def _nnz(m: sp.csr_matrix) -> int:
    return int(m.count_nonzero())


def _mean_abs_lfc(counts: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Mean |log fold change| of normalised expression between two cell sets."""
    norm = counts / counts.sum(axis=1, keepdims=True) * 1e4
    ma, mb = norm[a].mean(axis=0), norm[b].mean(axis=0)
    expressed = (ma + mb) / 2 > 1  # ignore near-zero genes dominated by noise
    return float(np.abs(np.log(ma + 0.1) - np.log(mb + 0.1))[expressed].mean())


def test_output_contract(tmp_path):
    adata = simulate_splat(50, 200, 3, random_state=3)
    assert adata.shape == (50, 200)
    for m in (adata.X, adata.layers[TRUTH_LAYER]):
        assert isinstance(m, sp.csr_matrix)
        assert m.dtype == np.float32
        assert m.shape == (50, 200)
    assert list(adata.obs_names[:2]) == ["Cell1", "Cell2"]
    assert adata.obs_names[-1] == "Cell50"
    assert list(adata.var_names[:2]) == ["Gene1", "Gene2"]
    assert adata.var_names[-1] == "Gene200"
    group = adata.obs[GROUP_KEY]
    assert isinstance(group.dtype, pd.CategoricalDtype)
    assert list(group.cat.categories) == ["Group1", "Group2", "Group3"]

    params = adata.uns["simulate"]
    signature = set(inspect.signature(simulate_splat).parameters)
    assert signature <= set(params)
    assert params["n_groups"] == 3
    assert params["group_prob"] == pytest.approx([1 / 3] * 3)
    assert params["dropout_mid"] == 5.0 and params["dropout_shape"] == -1.0

    # Everything must survive an h5ad round trip (the CLI writes h5ad).
    path = tmp_path / "sim.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert (back.X != adata.X).nnz == 0
    assert (back.layers[TRUTH_LAYER] != adata.layers[TRUTH_LAYER]).nnz == 0
    assert back.uns["simulate"]["n_genes"] == 200


def test_defaults_are_the_paper_setting():
    defaults = {
        k: v.default
        for k, v in inspect.signature(simulate_splat).parameters.items()
        if v.default is not inspect.Parameter.empty
    }
    assert defaults["n_cells"] == 4000 and defaults["n_genes"] == 20000
    assert defaults["n_groups"] == 2
    assert defaults["dropout_mid"] == 5.0 and defaults["dropout_shape"] == -1.0
    assert defaults["de_fac_scale"] == 0.25
    assert defaults["dropout"] is True


def test_observed_is_truth_with_whole_counts_dropped():
    adata = simulate_splat(**SMALL, random_state=1)
    x = adata.X.toarray()
    truth = adata.layers[TRUTH_LAYER].toarray()
    assert np.all(x == np.round(x)) and np.all(truth == np.round(truth))
    assert x.min() >= 0
    assert np.all(x <= truth)
    # Dropout zeroes an entry or leaves it untouched; it never thins counts.
    kept = x > 0
    np.testing.assert_array_equal(x[kept], truth[kept])
    assert _nnz(adata.X) < _nnz(adata.layers[TRUTH_LAYER])


def test_more_dropout_with_larger_midpoint():
    nnz = [
        _nnz(simulate_splat(**SMALL, dropout_mid=mid, random_state=2).X) for mid in (1.0, 3.0, 5.0)
    ]
    assert nnz[0] > nnz[1] > nnz[2] > 0


def test_flat_logistic_drops_half():
    # dropout_shape=0 makes p_drop = logistic(0) = 0.5 for every entry.
    adata = simulate_splat(**SMALL, dropout_shape=0.0, random_state=4)
    frac_kept = _nnz(adata.X) / _nnz(adata.layers[TRUTH_LAYER])
    assert frac_kept == pytest.approx(0.5, abs=0.02)


def test_no_dropout_gives_truth():
    adata = simulate_splat(**SMALL, dropout=False, random_state=5)
    assert (adata.X != adata.layers[TRUTH_LAYER]).nnz == 0
    assert adata.X is not adata.layers[TRUTH_LAYER]
    assert adata.uns["simulate"]["dropout"] is False


def test_same_seed_same_data_other_seed_differs():
    a = simulate_splat(**SMALL, n_groups=3, random_state=7)
    b = simulate_splat(**SMALL, n_groups=3, random_state=7)
    c = simulate_splat(**SMALL, n_groups=3, random_state=8)
    assert (a.X != b.X).nnz == 0
    assert (a.layers[TRUTH_LAYER] != b.layers[TRUTH_LAYER]).nnz == 0
    assert a.obs[GROUP_KEY].equals(b.obs[GROUP_KEY])
    assert (a.layers[TRUTH_LAYER] != c.layers[TRUTH_LAYER]).nnz > 0


def test_many_chunks_stitch_into_valid_csr(monkeypatch):
    # Force many tiny chunks so the CSR stitching across row blocks is exercised.
    import gnnimpute.data.simulate as simulate

    monkeypatch.setattr(simulate, "_CHUNK_ENTRIES", 7 * 300)
    adata = simulate.simulate_splat(**SMALL, random_state=6)
    truth = adata.layers[TRUTH_LAYER]
    for m in (adata.X, truth):
        m.check_format(full_check=True)
    assert np.all(adata.X.toarray() <= truth.toarray())
    assert truth.shape == (120, 300)
    # Each cell's total is of the order of its library size (exp(11) ~ 6e4).
    totals = np.asarray(truth.sum(axis=1)).ravel()
    assert np.all(totals > 1e4)


def test_de_separates_groups():
    def lfcs(de_prob):
        adata = simulate_splat(200, 1000, 2, de_prob=de_prob, dropout=False, random_state=1)
        truth = adata.layers[TRUTH_LAYER].toarray()
        codes = adata.obs[GROUP_KEY].cat.codes.to_numpy()
        g1, g2 = np.flatnonzero(codes == 0), np.flatnonzero(codes == 1)
        between = _mean_abs_lfc(truth, g1, g2)
        within = _mean_abs_lfc(truth, g1[::2], g1[1::2])
        return between, within

    between_de, within_de = lfcs(0.3)
    between_null, within_null = lfcs(0.0)
    assert between_de > 2 * within_de
    assert between_de > 2 * between_null
    # Without DE, groups differ no more than random halves of one group.
    assert between_null < 1.5 * within_null


def test_library_size_follows_lib_loc():
    def mean_log_total(lib_loc):
        adata = simulate_splat(**SMALL, lib_loc=lib_loc, dropout=False, random_state=9)
        totals = np.asarray(adata.layers[TRUTH_LAYER].sum(axis=1)).ravel()
        return float(np.log(totals).mean())

    low, high = mean_log_total(7.0), mean_log_total(10.0)
    assert low == pytest.approx(7.0, abs=0.1)
    assert high == pytest.approx(10.0, abs=0.1)


def test_group_prob_controls_membership():
    adata = simulate_splat(**SMALL, n_groups=2, group_prob=[1.0, 0.0], random_state=0)
    counts = adata.obs[GROUP_KEY].value_counts()
    assert counts["Group1"] == 120 and counts["Group2"] == 0
    six = simulate_splat(**SMALL, n_groups=6, random_state=0)
    assert six.obs[GROUP_KEY].nunique() == 6


def test_infinite_bcv_df_is_accepted():
    adata = simulate_splat(**SMALL, bcv_df=float("inf"), random_state=0)
    assert _nnz(adata.layers[TRUTH_LAYER]) > 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_cells": 0},
        {"n_genes": 0},
        {"n_groups": 0},
        {"n_cells": 2.5},
        {"n_cells": True},
        {"out_prob": 1.5},
        {"de_prob": -0.1},
        {"de_down_prob": 2.0},
        {"group_prob": [0.5, 0.6]},
        {"group_prob": [1.0]},
        {"group_prob": [1.5, -0.5]},
        {"mean_shape": 0.0},
        {"mean_rate": -1.0},
        {"lib_scale": -0.1},
        {"bcv_df": 0.0},
        {"lib_loc": float("nan")},
        {"dropout_mid": "high"},
        {"dropout": "yes"},
        {"random_state": 1.5},
    ],
)
def test_bad_arguments_raise_input_error(kwargs):
    args = {**SMALL, **kwargs}
    with pytest.raises(InputError) as info:
        simulate_splat(**args)
    assert "\n" not in str(info.value)

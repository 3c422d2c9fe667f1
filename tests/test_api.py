import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
from shared_helpers import FAST

import gnnimpute
from gnnimpute.benchmark.mask import mask_counts
from gnnimpute.data.norm import log_normalize, scale_rows, size_factors
from gnnimpute.errors import InputError
from gnnimpute.graph.knn import knn_indices, pca


@pytest.fixture(scope="module")
def imputed(sim_adata):
    a = ad.AnnData(X=sim_adata.X.copy(), obs=sim_adata.obs.copy(), var=sim_adata.var.copy())
    return gnnimpute.impute(a, **FAST)


def test_output_contract(imputed, sim_adata):
    layer = imputed.layers["gnnimpute"]
    assert isinstance(layer, np.ndarray) and layer.dtype == np.float32
    assert layer.shape == sim_adata.shape and np.all(layer >= 0)
    assert imputed.obsm["X_gnnimpute"].shape == (sim_adata.n_obs, 8)
    info = imputed.uns["gnnimpute"]
    assert info["seed"] == 0 and info["params"]["k"] == 5 and info["params"]["heads"] == 3
    assert (
        len(info["history"]["train_loss"]) == info["epochs_run"] == len(info["history"]["val_loss"])
    )
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= 40
    assert {"torch", "torch_geometric", "gnnimpute"} <= set(info["versions"])
    np.testing.assert_array_equal(imputed.X.toarray(), sim_adata.X.toarray())  # counts untouched
    assert list(imputed.obs_names) == list(sim_adata.obs_names)


def test_output_is_in_normalized_count_space(imputed):
    """Imputed totals do not follow each cell's sequencing depth; gene levels follow the data."""
    layer = imputed.layers["gnnimpute"]
    raw = np.asarray(imputed.X.sum(axis=1)).ravel()
    assert np.corrcoef(layer.sum(axis=1), raw)[0, 1] < 0.5
    gene_means = np.asarray(scale_rows(imputed.X, size_factors(imputed.X)).mean(axis=0)).ravel()
    assert np.corrcoef(np.log1p(layer.mean(axis=0)), np.log1p(gene_means))[0, 1] > 0.8


def test_copy_leaves_input_alone(sim_adata):
    a = ad.AnnData(X=sim_adata.X.copy())
    out = gnnimpute.impute(a, copy=True, **{**FAST, "epochs": 3})
    assert "gnnimpute" not in a.layers and "gnnimpute" in out.layers


def test_same_seed_same_output_other_seed_differs(sim_adata):
    runs = [
        gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), random_state=s, **{**FAST, "epochs": 8})
        for s in (3, 3, 4)
    ]
    np.testing.assert_array_equal(runs[0].layers["gnnimpute"], runs[1].layers["gnnimpute"])
    assert not np.array_equal(runs[0].layers["gnnimpute"], runs[2].layers["gnnimpute"])


@pytest.mark.parametrize(
    "variant", [dict(layer_type="gcn"), dict(encoder_input="genes", n_input=50)]
)
def test_variants_run(sim_adata, variant):
    out = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), **{**FAST, "epochs": 3, **variant})
    assert out.layers["gnnimpute"].shape == sim_adata.shape
    assert out.uns["gnnimpute"]["params"]["n_input"] == variant.get("n_input", 20)


def test_rejects_bad_counts_and_tiny_data():
    with pytest.raises(InputError, match="negative"):
        gnnimpute.impute(ad.AnnData(X=-np.ones((10, 4), dtype=np.float32)), **FAST)
    with pytest.raises(InputError, match="too few cells"):
        gnnimpute.impute(ad.AnnData(X=np.ones((5, 4), dtype=np.float32)), k=5, **FAST)
    with pytest.raises(InputError, match="encoder_input"):
        gnnimpute.impute(ad.AnnData(X=np.ones((10, 4), dtype=np.float32)), k=2, encoder_input="x")


def test_recovers_hidden_truth_better_than_zeros_and_knn(sim_adata):
    """The core claim, at test scale: hidden counts are predicted better than by kNN averaging."""
    hidden = mask_counts(sim_adata.X, 0.1, seed=0)
    a = ad.AnnData(X=hidden.masked.copy())
    gnnimpute.impute(a, **{**FAST, "epochs": 150, "patience": 50})
    s = size_factors(hidden.masked)
    truth = hidden.values * s[hidden.rows]

    def mse(matrix):
        pred = np.asarray(matrix[hidden.rows, hidden.cols]).ravel()
        return float(np.mean((pred - truth) ** 2))

    normalized = scale_rows(hidden.masked, s)
    pcs, _ = pca(log_normalize(hidden.masked), 50)
    nb = knn_indices(pcs, 5)
    n = nb.shape[0]
    avg = sp.csr_matrix(
        (np.full(nb.size, 1 / 5), (np.repeat(np.arange(n), 5), nb.ravel())), shape=(n, n)
    )
    ours, zeros, knn = (
        mse(a.layers["gnnimpute"]),
        mse(normalized.toarray()),
        mse((avg @ normalized).toarray()),
    )
    assert ours < zeros
    assert ours < knn, f"gnnimpute {ours:.3g} vs kNN {knn:.3g}"


def test_detection_shrink_interpolates_between_level_and_expectation():
    from gnnimpute.api import shrink_rows

    counts = sp.csr_matrix(np.array([[2, 0], [0, 0], [4, 1]], dtype=np.float32))
    neighbors = np.array([[1], [0], [0]])
    level = np.full((3, 2), 8.0, dtype=np.float32)
    out = level.copy()
    shrink_rows(out[:2], counts, neighbors, 1.0, slice(0, 2))  # in cell chunks, as the API does
    shrink_rows(out[2:], counts, neighbors, 1.0, slice(2, 3))
    # 8 x smoothed detection share (detected + 1) / (k + 2), k = 1
    np.testing.assert_allclose(out, 8 * np.array([[2, 1], [2, 1], [3, 2]]) / 3, rtol=1e-6)
    out = level.copy()
    shrink_rows(out, counts, neighbors, 0.0, slice(0, 3))
    np.testing.assert_array_equal(out, level)


def test_detection_shrink_recorded_and_off_switch(sim_adata):
    fast = {**FAST, "epochs": 3, "decoder": "level"}
    a = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), **fast)
    b = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), detection_shrink=0, **fast)
    assert a.uns["gnnimpute"]["params"]["detection_shrink"] == 0.1
    assert np.all(a.layers["gnnimpute"] <= b.layers["gnnimpute"] + 1e-5)
    assert np.any(a.layers["gnnimpute"] < b.layers["gnnimpute"] - 1e-3)


def test_layer_is_exactly_counts_times_median_over_cell_total(sim_adata, monkeypatch):
    """The normalization contract, exactly: a model that returned its target would give
    counts_ij * median(L) / L_i, L_i the cell's total; checked against a hand computation."""
    import gnnimpute.api

    def encode_target(model, inputs, ei, *, observed, **kwargs):
        return [observed], np.zeros((observed.shape[0], 8), dtype=np.float32)

    def decode_target(model, zs, rows):
        return zs[0][rows].toarray(), None

    monkeypatch.setattr(gnnimpute.api, "encode_draws", encode_target)
    monkeypatch.setattr(gnnimpute.api, "decode_layers", decode_target)
    counts = sim_adata.X.toarray().astype(np.float64)
    out = gnnimpute.impute(
        ad.AnnData(X=sp.csr_matrix(counts)),
        decoder="level",
        level_mix=0.0,
        detection_shrink=0.0,
        **{**FAST, "epochs": 2},
    )
    totals = counts.sum(axis=1)
    expected = counts * (np.median(totals) / totals)[:, None]
    np.testing.assert_allclose(out.layers["gnnimpute"], expected, rtol=1e-6)
    np.testing.assert_allclose(out.layers["gnnimpute"].sum(axis=1), np.median(totals), rtol=1e-5)


def test_output_level_matches_the_normalized_counts(imputed):
    """Where counts were observed, the imputed mean is the normalized-count mean within ~30 %:
    an output at CPM scale (x ~120 here) or x10 fails, as does one at raw-count scale per cell."""
    counts = imputed.X.toarray().astype(np.float64)
    totals = counts.sum(axis=1)
    normalized = counts * (np.median(totals) / totals)[:, None]
    layer = imputed.layers["gnnimpute"].astype(np.float64)
    seen = counts > 0
    ratio = layer[seen].mean() / normalized[seen].mean()
    assert 0.7 < ratio < 1.3, ratio
    assert 1e6 / np.median(totals) > 10  # so CPM would sit far outside the band
    per_cell = (layer * seen).sum(axis=1) / (normalized * seen).sum(axis=1)
    assert np.corrcoef(per_cell, totals)[0, 1] < 0.5  # no leftover depth scaling


def test_hurdle_layers_contract(imputed):
    """Detection is a probability, the level is non-negative, the default is the documented blend."""
    from gnnimpute.options import DEFAULTS

    DEFAULT_BLEND = DEFAULTS.output.blend
    from gnnimpute.output.blend import blend

    p = imputed.layers["gnnimpute_detection"]
    level = imputed.layers["gnnimpute_level"]
    for layer in (p, level):
        assert layer.dtype == np.float32 and layer.shape == imputed.shape
    assert p.min() >= 0 and p.max() <= 1 and p.std() > 0.01
    assert level.min() >= 0
    counts = sp.csr_matrix(imputed.X, dtype=np.float32)
    observed = scale_rows(counts, size_factors(counts))
    default = imputed.layers["gnnimpute"]
    np.testing.assert_array_equal(default, blend(level, p, DEFAULT_BLEND, observed=observed))
    # the default keeps every observed value and fills the zeros with level x P(detected)
    seen = observed.toarray() > 0
    np.testing.assert_allclose(default[seen], observed.toarray()[seen], rtol=1e-6)
    np.testing.assert_allclose(default[~seen], (level * p)[~seen], rtol=1e-6)
    params = imputed.uns["gnnimpute"]["params"]
    assert params["decoder"] == "hurdle" and params["blend"] == DEFAULT_BLEND
    # detection is learned: entries observed as detected score higher than observed zeros
    detected = imputed.X.toarray() > 0
    assert p[detected].mean() > p[~detected].mean() + 0.1


def test_level_decoder_writes_one_layer(sim_adata):
    out = gnnimpute.impute(
        ad.AnnData(X=sim_adata.X.copy()), decoder="level", **{**FAST, "epochs": 3}
    )
    assert "gnnimpute_detection" not in out.layers and "gnnimpute_level" not in out.layers
    assert out.uns["gnnimpute"]["params"]["blend"] == "level"


def test_blend_is_chosen_and_refused_when_bad(sim_adata):
    fast = {**FAST, "epochs": 3}
    out = gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), blend="expected", **fast)
    np.testing.assert_allclose(
        out.layers["gnnimpute"],
        out.layers["gnnimpute_level"] * out.layers["gnnimpute_detection"],
        rtol=1e-6,
    )
    with pytest.raises(InputError, match="blend"):
        gnnimpute.impute(ad.AnnData(X=sim_adata.X.copy()), blend="gate:1", **fast)


def test_preset_paper_fills_defaults_and_explicit_options_win(sim_adata):
    from gnnimpute.presets import PRESETS

    a = ad.AnnData(X=sim_adata.X.copy())
    out = gnnimpute.impute(a, preset="paper", epochs=2, lr=2e-3, progress=False)
    params = out.uns["gnnimpute"]["params"]
    assert params["preset"] == "paper" and params["lr"] == 2e-3 and params["epochs"] == 2
    claimed = {k: v for k, v in PRESETS["paper"].items() if k not in ("lr", "n_input")}
    assert {k: params[k] for k in claimed} == {
        **claimed,
        "hidden": [512, 50],
    }
    assert params["n_input"] == sim_adata.n_vars  # 2,000 most variable genes: all 300 here
    assert out.obsm["X_gnnimpute"].shape == (sim_adata.n_obs, 50)
    assert "gnnimpute_detection" not in out.layers  # level decoder, as published


def test_level_mix_one_is_the_neighbours_level(sim_adata):
    from gnnimpute.benchmark.methods import REGISTRY

    a = ad.AnnData(X=sim_adata.X.copy())
    out = gnnimpute.impute(a, copy=True, level_mix=1.0, **{**FAST, "epochs": 3})
    np.testing.assert_allclose(
        out.layers["gnnimpute_level"], REGISTRY["knn_level"](a, seed=0), rtol=1e-5
    )
    assert out.uns["gnnimpute"]["params"]["level_mix"] == 1.0

"""The mask hides exactly what it says; the split conserves every molecule."""

from __future__ import annotations

import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gnnimpute.benchmark.mask import (
    make_mask_pair,
    make_split_pair,
    mask_counts,
    masked_counts_from_truth,
    method_input,
    n_hidden_per_gene,
    split_counts,
)
from gnnimpute.errors import InputError


def _counts(n_cells=60, n_genes=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(rng.gamma(0.5, 2.0, size=(n_cells, n_genes))).astype(np.float32)
    X[:, 0] = 0
    X[:3, 1] = 5  # exactly 3 non-zero cells: never masked
    X[3:, 1] = 0
    X[:4, 2] = 7  # 4 non-zero cells: floor(0.1 * 4) = 0, floor(0.3 * 4) = 1
    X[4:, 2] = 0
    return sp.csr_matrix(X)


def test_n_hidden_rule():
    nnz = np.array([0, 3, 4, 10, 10, 100])
    assert n_hidden_per_gene(nnz, 0.1).tolist() == [0, 0, 0, 1, 1, 10]
    assert n_hidden_per_gene(nnz, 0.3).tolist() == [0, 0, 1, 3, 3, 30]  # 0.3 * 10 is 3, not 2
    assert n_hidden_per_gene(np.array([7]), 0.6).tolist() == [math.floor(0.6 * 7)]


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.6])
def test_mask_hides_exactly_floor_rate_nnz_per_gene(rate):
    X = _counts()
    res = mask_counts(X, rate, seed=3)
    Xc = X.tocsc()
    nnz = np.diff(Xc.indptr)
    expected = np.where(nnz > 3, np.floor(rate * nnz + 1e-9), 0).astype(int)
    hidden_per_gene = np.bincount(res.cols, minlength=X.shape[1])
    assert hidden_per_gene.tolist() == expected.tolist()
    dense = X.toarray()
    masked = res.masked.toarray()
    # hidden entries were non-zero, carry their original value, and are zero after masking
    assert np.all(dense[res.rows, res.cols] > 0)
    assert np.array_equal(dense[res.rows, res.cols], res.values)
    assert np.all(masked[res.rows, res.cols] == 0)
    # nothing else changed
    restored = masked.copy()
    restored[res.rows, res.cols] = res.values
    assert np.array_equal(restored, dense)
    assert int(((dense != 0) & (masked == 0)).sum()) == res.rows.size
    # no position twice
    assert len(set(zip(res.rows.tolist(), res.cols.tolist(), strict=True))) == res.rows.size


def test_mask_is_deterministic_and_seeded():
    X = _counts()
    a, b, c = mask_counts(X, 0.2, 7), mask_counts(X, 0.2, 7), mask_counts(X, 0.2, 8)
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.cols, b.cols)
    assert (a.masked != b.masked).nnz == 0
    assert not (np.array_equal(a.rows, c.rows) and np.array_equal(a.cols, c.cols))


def test_mask_rejects_bad_rate():
    with pytest.raises(InputError):
        mask_counts(_counts(), 1.0)
    with pytest.raises(InputError):
        mask_counts(_counts(), -0.1)


def test_mask_pair_contents():
    X = _counts()
    adata = ad.AnnData(
        X=X,
        obs=pd.DataFrame({"cell_type": ["a", "b"] * 30}, index=[f"c{i}" for i in range(60)]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(40)]),
    )
    adata.layers["truth"] = X.copy() * 2
    masked, truth = make_mask_pair(adata, 0.25, seed=1)
    info = truth.uns["mask"]
    assert info["kind"] == "mask" and info["rate"] == 0.25 and info["seed"] == 1
    # MASKED: only masked counts and the protocol parameters; no positions, no truth layer
    assert list(masked.layers) == []
    assert set(masked.uns) == {"masked"} and "rows" not in masked.uns["masked"]
    assert list(masked.obs["cell_type"]) == list(adata.obs["cell_type"])
    dense = masked.X.toarray()
    assert np.all(dense[info["rows"], info["cols"]] == 0)
    # TRUTH: original counts, positions, the simulated truth layer
    assert (truth.X != X).nnz == 0
    assert "truth" in truth.layers
    assert (masked_counts_from_truth(truth) != masked.X).nnz == 0
    # what a method receives: counts and names only
    inp = method_input(masked.X, masked.obs_names, masked.var_names)
    assert list(inp.obs.columns) == [] and list(inp.var.columns) == []
    assert not inp.layers and not inp.uns and not inp.obsm
    assert (inp.X != masked.X).nnz == 0


def test_split_conserves_counts():
    X = _counts()
    train, test = split_counts(X, 0.9, seed=0)
    assert np.array_equal((train + test).toarray(), X.toarray())
    assert train.min() >= 0 and test.min() >= 0
    assert np.all(np.mod(train.data, 1) == 0)
    frac = train.sum() / X.sum()
    assert 0.85 < frac < 0.95
    t2, _ = split_counts(X, 0.9, seed=0)
    assert (t2 != train).nnz == 0


def test_split_pair_and_errors():
    X = _counts()
    adata = ad.AnnData(X=X)
    tr, te = make_split_pair(adata, 0.5, seed=2)
    info = te.uns["mask"]
    assert info["kind"] == "split" and info["train_frac"] == 0.5
    assert np.allclose(info["train_library_size"], np.asarray(tr.X.sum(axis=1)).ravel())
    with pytest.raises(InputError):
        split_counts(X * 0.5 + sp.csr_matrix(np.full(X.shape, 0.25)), 0.9)
    with pytest.raises(InputError):
        split_counts(X, 1.0)


def _counts_file(path, x, layers=None):
    obs = pd.DataFrame(index=[f"c{i}" for i in range(x.shape[0])])
    var = pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])])
    ad.AnnData(X=sp.csr_matrix(x), obs=obs, var=var, layers=layers or {}).write_h5ad(path)
    return path


def _mask_cli(*args):
    from click.testing import CliRunner

    from gnnimpute.cli import main

    return CliRunner().invoke(main, ["mask", *map(str, args)])


def _poisson_counts(seed=0, shape=(40, 30)):
    return np.random.default_rng(seed).poisson(2.0, size=shape).astype(np.float32)


def test_mask_cli_refuses_non_integer_input_as_impute_does(tmp_path):
    logged = np.log1p(_poisson_counts())  # log-normalised X: not raw counts
    src = _counts_file(tmp_path / "in.h5ad", logged)
    res = _mask_cli(src, tmp_path / "m.h5ad", tmp_path / "t.h5ad")
    assert res.exit_code != 0
    assert "non-integer values" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "m.h5ad").exists() and not (tmp_path / "t.h5ad").exists()
    ok = _mask_cli(src, tmp_path / "m.h5ad", tmp_path / "t.h5ad", "--allow-non-integer")
    assert ok.exit_code == 0, ok.output


def test_mask_cli_layer_masks_that_layer_and_keeps_it_for_impute(tmp_path):
    counts = _poisson_counts(1)
    src = _counts_file(tmp_path / "in.h5ad", np.log1p(counts), layers={"counts": counts})
    masked_path, truth_path = tmp_path / "m.h5ad", tmp_path / "t.h5ad"
    res = _mask_cli(src, masked_path, truth_path, "--layer", "counts", "--rate", "0.2")
    assert res.exit_code == 0, res.output
    masked, truth = ad.read_h5ad(masked_path), ad.read_h5ad(truth_path)
    # the truth holds the layer's counts, not the log-normalised X
    np.testing.assert_array_equal(truth.X.toarray(), counts)
    rows, cols = truth.uns["mask"]["rows"], truth.uns["mask"]["cols"]
    assert len(rows) > 0 and np.all(counts[rows, cols] > 0)
    expected = counts.copy()
    expected[rows, cols] = 0
    np.testing.assert_array_equal(masked.X.toarray(), expected)
    # `impute --layer counts` of the masked file reads the same masked counts
    np.testing.assert_array_equal(masked.layers["counts"].toarray(), expected)
    missing = _mask_cli(src, tmp_path / "m2.h5ad", tmp_path / "t2.h5ad", "--layer", "raw")
    assert missing.exit_code != 0 and "layer 'raw' not found" in missing.output

"""`gnnimpute baseline`: no imputation, kNN averaging and the kNN level, checked by hand."""

import json

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from click.testing import CliRunner
from shared_helpers import FAST_CLI

from gnnimpute.cli import main

# two tight pairs far apart: with k = 1 each cell's neighbour is its partner
COUNTS = np.array(
    [
        [10, 0, 5, 0],
        [8, 2, 6, 0],
        [0, 10, 0, 4],
        [0, 9, 1, 5],
    ],
    dtype=np.float32,
)
PARTNER = [1, 0, 3, 2]


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _write(path, x=COUNTS):
    ad.AnnData(
        X=sp.csr_matrix(x),
        obs=pd.DataFrame({"group": ["a", "a", "b", "b"][: len(x)]},
                         index=[f"c{i}" for i in range(len(x))]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])]),
    ).write_h5ad(path)  # fmt: skip
    return path


def _normalized_by_hand(x):
    lib = x.sum(axis=1)
    return x * (np.median(lib) / lib)[:, None]


def test_baseline_layers_match_a_hand_computation(tmp_path):
    src = _write(tmp_path / "in.h5ad")
    out = tmp_path / "base.h5ad"
    result = _invoke("baseline", src, out, "--k", "1", "--pcs", "2", "--quiet")
    assert result.exit_code == 0, result.output
    got = ad.read_h5ad(out)
    np.testing.assert_array_equal(got.X.toarray(), COUNTS)  # the input counts stay in X
    norm = _normalized_by_hand(COUNTS)
    layer = got.layers["normalized"]
    np.testing.assert_allclose(layer.toarray() if sp.issparse(layer) else layer, norm, rtol=1e-6)
    # kNN averaging with k = 1: the partner's normalized counts (the cell itself left out)
    np.testing.assert_allclose(got.layers["knn"], norm[PARTNER], rtol=1e-6)
    # kNN level: the partner's value where it is non-zero, else the gene's non-zero mean
    gene_nz_mean = np.array([norm[:, j][norm[:, j] > 0].mean() for j in range(norm.shape[1])])
    expected = np.where(norm[PARTNER] > 0, norm[PARTNER], gene_nz_mean[None, :])
    np.testing.assert_allclose(got.layers["knn_level"], expected, rtol=1e-6)
    assert got.uns["gnnimpute_baseline"]["k"] == 1
    assert list(got.uns["gnnimpute_baseline"]["layers"]) == ["normalized", "knn", "knn_level"]


def test_baseline_method_option_writes_only_that_layer(tmp_path):
    src = _write(tmp_path / "in.h5ad")
    out = tmp_path / "base.h5ad"
    result = _invoke("baseline", src, out, "--method", "knn-level", "--k", "1", "--pcs", "2")
    assert result.exit_code == 0, result.output
    assert set(ad.read_h5ad(out).layers) == {"knn_level"}


def test_baseline_refuses_too_few_cells_and_an_existing_output(tmp_path):
    src = _write(tmp_path / "in.h5ad")
    out = tmp_path / "base.h5ad"
    result = CliRunner().invoke(main, ["baseline", str(src), str(out), "--k", "4"])
    assert result.exit_code == 1 and "--k 4" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not out.exists()
    out.write_text("keep me")
    result = CliRunner().invoke(main, ["baseline", str(src), str(out), "--k", "1"])
    assert result.exit_code == 1 and "exists" in result.output
    assert out.read_text() == "keep me"


def test_evaluate_prints_baselines_beside_the_imputation(tmp_path, sim_h5ad):
    masked, truth = tmp_path / "masked.h5ad", tmp_path / "truth.h5ad"
    assert _invoke("mask", sim_h5ad, masked, truth, "--rate", "0.1").exit_code == 0
    imputed, base = tmp_path / "imputed.h5ad", tmp_path / "base.h5ad"
    assert _invoke("impute", masked, imputed, "--no-qc", *FAST_CLI).exit_code == 0
    assert _invoke("baseline", masked, base, "--quiet").exit_code == 0
    metrics = tmp_path / "m.json"
    result = _invoke("evaluate", imputed, truth, "--label-key", "group", "--baselines", base,
                     "--json", metrics)  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split("\t") == ["metric", "gnnimpute", "normalized", "knn", "knn_level"]
    saved = json.loads(metrics.read_text())
    mse = next(ln.split("\t") for ln in lines if ln.startswith("mse\t"))
    # every column is that layer's own score, as `evaluate --layer NAME` alone gives it
    assert float(mse[1]) == float(f"{saved['mse']:.4g}")
    for name, col in (("normalized", 2), ("knn", 3), ("knn_level", 4)):
        alone = _invoke("evaluate", base, truth, "--layer", name)
        value = next(float(ln.split("\t")[1]) for ln in alone.output.splitlines()
                     if ln.startswith("mse\t"))  # fmt: skip
        assert float(mse[col]) == float(f"{value:.4g}")
        assert float(f"{saved['baselines'][name]['mse']:.6g}") == value
    # no imputation scores no PCC (its hidden entries are all zero): shown as a dash
    pcc = next(ln.split("\t") for ln in lines if ln.startswith("pcc\t"))
    assert pcc[2] == "–" and float(pcc[1]) > 0

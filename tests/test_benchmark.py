"""The benchmark: TRUTH never reaches a method; a small end-to-end run; the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner

import gnnimpute.benchmark.runner as B
from gnnimpute.benchmark.mask import make_mask_pair
from gnnimpute.benchmark.methods import Method, MethodUnavailable
from gnnimpute.data.norm import scale_rows, size_factors

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIM = "sim3:150x300"


# --------------------------------------------------------------------------- spy methods


def run(adata, *, seed=0, k=5, forbidden=None, seen=None, mode="spy"):
    """A method that checks what it is given (module-level so a spawned process can import it)."""
    if mode == "unavailable":
        raise MethodUnavailable("spy package deliberately missing")
    problems = []
    if list(adata.layers) or dict(adata.uns) or list(adata.obsm) or list(adata.obs.columns):
        problems.append(f"extra content: layers={list(adata.layers)} uns={list(adata.uns)} "
                        f"obs={list(adata.obs.columns)} obsm={list(adata.obsm)}")  # fmt: skip
    if forbidden is not None:
        f = np.load(forbidden)
        X = sp.csr_matrix(adata.X)
        if np.any(np.asarray(X[f["rows"], f["cols"]]).ravel() != 0):
            problems.append("hidden entries are visible")
        if not np.isclose(float(X.sum()), float(f["masked_total"])):
            problems.append("total differs from the masked total")
    if seen is not None:
        with open(seen, "a") as fh:
            fh.write(json.dumps({"problems": problems, "shape": list(adata.shape)}) + "\n")
    if problems:
        raise AssertionError("; ".join(problems))
    return scale_rows(adata.X, size_factors(adata.X))


def _spy(name="spy", **options):
    return Method(name, __name__, "test spy", options)


def _forbidden(tmp_path, rate=0.2, seed=0):
    ds = B.load_dataset(SIM)
    masked, truth = make_mask_pair(ds.adata, rate, seed)
    path = tmp_path / "forbidden.npz"
    np.savez(path, rows=truth.uns["mask"]["rows"], cols=truth.uns["mask"]["cols"],
             masked_total=float(masked.X.sum()))  # fmt: skip
    return path


def _cfg(tmp_path, methods, **kw):
    base = dict(datasets=[SIM], out=tmp_path / "out", methods=methods, rates=[0.2], seeds=[0],
                isolate=False, leiden=False, plots=False, log=None)  # fmt: skip
    base.update(kw)
    return B.BenchmarkConfig(**base)


@pytest.mark.parametrize("isolate", [False, True])
def test_truth_never_reaches_a_method(tmp_path, isolate):
    seen = tmp_path / "seen.jsonl"
    spy = _spy(forbidden=str(_forbidden(tmp_path)), seen=str(seen))
    df = B.run_benchmark(_cfg(tmp_path, [spy], isolate=isolate))
    rows = df[df["method"] == "spy"]
    assert rows.loc[rows["protocol"] == "mask", "status"].tolist() == ["ok"], rows[
        "reason"
    ].tolist()
    records = [json.loads(x) for x in seen.read_text().splitlines()]
    assert len(records) == 1 and not records[0]["problems"]
    assert rows.loc[rows["protocol"] == "mask", "mse"].notna().all()


def test_the_spy_would_catch_a_leak(tmp_path, monkeypatch):
    """If the benchmark handed a method the TRUTH, the spy's run would fail: the test has teeth."""
    real = B.make_mask_pair

    def leaky(adata, rate, seed=0, **kw):
        _masked, truth = real(adata, rate, seed, **kw)
        return truth, truth  # BUG on purpose: the method gets the original counts

    monkeypatch.setattr(B, "make_mask_pair", leaky)
    spy = _spy(forbidden=str(_forbidden(tmp_path)))
    df = B.run_benchmark(_cfg(tmp_path, [spy]))
    row = df[(df["method"] == "spy") & (df["protocol"] == "mask")].iloc[0]
    assert row["status"] == "failed" and "hidden entries are visible" in row["reason"]


def test_unavailable_method_is_reported_skipped(tmp_path):
    df = B.run_benchmark(_cfg(tmp_path, ["none", _spy("ghost", mode="unavailable")]))
    row = df[df["method"] == "ghost"].iloc[0]
    assert row["status"] == "skipped" and row["reason"] == "spy package deliberately missing"
    section = (tmp_path / "out" / "README_section.md").read_text()
    assert "ghost" in section and "deliberately missing" in section


def test_end_to_end_small_benchmark(tmp_path):
    cfg = _cfg(
        tmp_path, ["gnnimpute", "none", "knn"], rates=[0.1, 0.3], seeds=[0, 1], train_fracs=[0.5, 0.9],
        plots=True, leiden=True, command="gnnimpute benchmark sim3:150x300 --out out",
        method_options={"gnnimpute": {"epochs": 3, "patience": 2}},
    )  # fmt: skip
    df = B.run_benchmark(cfg)
    out = tmp_path / "out"
    mask_rows = df[df["protocol"] == "mask"]
    # gnnimpute's run also gives the rows of its level and expected-value layers (5 rows per mask)
    methods = ["gnnimpute", "gnnimpute_level", "gnnimpute_expected", "none", "knn"]
    assert sorted(set(mask_rows["method"])) == sorted(methods)
    assert len(mask_rows) == 5 * 2 * 2 and set(mask_rows["status"]) == {"ok"}, mask_rows["reason"]
    assert len(df[df["protocol"] == "split"]) == 5 * 2 * 2
    by = mask_rows.set_index(["rate", "seed", "method"])
    for rate, seed in [(0.1, 0), (0.3, 1)]:
        level, expected = (
            by.loc[(rate, seed, "gnnimpute_level")],
            by.loc[(rate, seed, "gnnimpute_expected")],
        )
        assert level["wall_s"] == by.loc[(rate, seed, "gnnimpute"), "wall_s"]  # one training
        assert expected["mse"] != level["mse"]  # scored on their own layers, not copied
        assert np.isnan(level["ari_kmeans_embedding"]) and not np.isnan(
            by.loc[(rate, seed, "gnnimpute"), "ari_kmeans_embedding"]
        )
    assert len(df[df["protocol"] == "reference"]) == 1
    for col in ("mse", "mae", "cosine", "ari_kmeans", "ari_leiden", "truth_mse_log", "wall_s",
                "peak_rss_mb"):  # fmt: skip
        assert mask_rows[col].notna().all(), col
    # PCC is undefined for "none" (all zeros at the hidden entries), defined for the others
    assert (
        mask_rows.loc[mask_rows["method"] != "none", ["pcc", "pcc_cell_mean"]].notna().all().all()
    )
    assert mask_rows.loc[mask_rows["method"] == "none", "pcc"].isna().all()
    assert df[df["protocol"] == "split"]["mcv_mse"].notna().all()
    knn = mask_rows[mask_rows["method"] == "knn"]
    none = mask_rows[mask_rows["method"] == "none"]
    assert knn["mse"].mean() < none["mse"].mean()  # averaging neighbours beats leaving zeros
    for name in ("results.csv", "results.md", "summary.csv", "README_section.md", "report.html",
                 "command.txt", f"bars_{SIM.replace(':', '_')}.png"):  # fmt: skip
        assert (out / name).is_file(), name
    pngs = {p.name.split("_")[0] for p in out.glob("*.png")}
    assert {"bars", "rates", "trainfrac", "tsne", "markers"} <= pngs
    table = pd.read_csv(out / "results.csv")
    assert len(table) == len(df)
    section = (out / "README_section.md").read_text()
    assert "## Benchmarks" in section and "gnnimpute benchmark sim3:150x300" in section
    assert "wall time" in section
    html = (out / "report.html").read_text()
    assert "tsne_" in html and "markers_" in html
    # resume runs nothing new
    df2 = B.run_benchmark(B.BenchmarkConfig(**{**cfg.__dict__, "resume": True, "plots": False}))
    assert len(df2) == len(df)


def test_gnnimpute_adapter_layers_are_the_hurdle_decoders(tmp_path):
    """The _level and _expected rows score level and level x P(detected) of the same training."""
    from gnnimpute.benchmark.methods import get_method

    ds = B.load_dataset("sim2:60x80")
    inp = B.method_input(ds.adata.X, ds.adata.obs_names, ds.adata.var_names)
    out, embedding, extras = get_method("gnnimpute")(
        inp, seed=0, with_embedding=True, epochs=3, patience=2, predict_draws=1
    )
    assert set(extras) == {"level", "expected"} and embedding.shape[0] == 60
    level, expected = extras["level"], extras["expected"]
    assert level.shape == expected.shape == out.shape == (60, 80)
    assert (expected <= level + 1e-6).all() and (expected >= 0).all()
    ratio = expected[level > 0] / level[level > 0]  # P(detected), a probability
    assert 0 <= ratio.min() and ratio.max() <= 1 + 1e-6 and ratio.std() > 0
    assert not np.allclose(out, level)  # the default layer is the gated blend, not the level


# --------------------------------------------------------------------------- CLI


def _write_input(tmp_path):
    ds = B.load_dataset(SIM)
    path = tmp_path / "in.h5ad"
    ds.adata.write_h5ad(path)
    return path


def test_cli_mask_split_evaluate(tmp_path):
    from gnnimpute.benchmark.cli import evaluate, mask, split

    inp = _write_input(tmp_path)
    runner = CliRunner()
    m, t = tmp_path / "masked.h5ad", tmp_path / "truth.h5ad"
    r = runner.invoke(mask, [str(inp), str(m), str(t), "--rate", "0.1", "--seed", "0"])
    assert r.exit_code == 0, r.output
    masked, truth = ad.read_h5ad(m), ad.read_h5ad(t)
    assert "truth" not in masked.layers and "mask" not in masked.uns
    rows, cols = truth.uns["mask"]["rows"], truth.uns["mask"]["cols"]
    assert np.all(np.asarray(masked.X[rows, cols]).ravel() == 0)
    # existing output is refused without --force
    r = runner.invoke(mask, [str(inp), str(m), str(t)])
    assert r.exit_code != 0 and "exists" in r.output
    # an "imputed" file: the masked counts, normalized, in layers['gnnimpute']
    imp = masked.copy()
    imp.layers["gnnimpute"] = scale_rows(masked.X, size_factors(masked.X)).toarray()
    ipath = tmp_path / "imputed.h5ad"
    imp.write_h5ad(ipath)
    js = tmp_path / "m.json"
    r = runner.invoke(evaluate, [str(ipath), str(t), "--label-key", "group", "--json", str(js)])
    assert r.exit_code == 0, r.output
    res = json.loads(js.read_text())
    assert res["protocol"] == "mask" and res["n_hidden"] == len(rows) and "ari_kmeans" in res
    assert "ari_leiden" in res and res["cosine"] == 0.0  # nothing imputed at hidden entries
    tr, te = tmp_path / "train.h5ad", tmp_path / "test.h5ad"
    r = runner.invoke(split, [str(inp), str(tr), str(te), "--train-frac", "0.9"])
    assert r.exit_code == 0, r.output
    imp = ad.read_h5ad(tr)
    imp.layers["gnnimpute"] = scale_rows(imp.X, size_factors(imp.X)).toarray()
    imp.write_h5ad(ipath)
    r = runner.invoke(evaluate, [str(ipath), str(te)])
    assert r.exit_code == 0 and "mcv_mse" in r.output
    r = runner.invoke(evaluate, [str(ipath), str(inp)])
    assert r.exit_code != 0 and "uns['mask']" in r.output


def test_cli_benchmark_options(tmp_path):
    from gnnimpute.benchmark.cli import benchmark

    r = CliRunner().invoke(
        benchmark,
        [SIM, "--out", str(tmp_path / "o"), "--methods", "none,knn", "--rates", "0.2",
         "--seeds", "0", "--in-process", "--no-plots", "--no-leiden", "--set", "knn.n_pcs=10"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    df = pd.read_csv(tmp_path / "o" / "results.csv")
    assert set(df["method"]) == {"unmasked", "none", "knn"}
    # a row says which non-default options it ran with, and so does the table
    assert set(df.loc[df["method"] == "knn", "options"]) == {"n_pcs=10"}
    assert "| knn (n_pcs=10) |" in (tmp_path / "o" / "summary.md").read_text()
    assert "| n_pcs=10 |" in (tmp_path / "o" / "results.md").read_text()
    r = CliRunner().invoke(benchmark, [SIM, "--out", str(tmp_path / "o"), "--set", "bad"])
    assert r.exit_code != 0


@pytest.mark.realdata
def test_real_data_baron_knn_beats_no_imputation(tmp_path):
    path = DATA / "baron_mouse_pancreas.h5ad"
    if not path.exists():
        pytest.skip(f"real data not found at {path} (needs ../shared/data)")
    df = B.run_benchmark(
        B.BenchmarkConfig(datasets=[str(path)], out=tmp_path / "o", methods=["none", "knn"],
                          rates=[0.1], seeds=[0], isolate=False, leiden=False, plots=False, log=None)
    )  # fmt: skip
    rows = df[df["protocol"] == "mask"].set_index("method")
    assert rows.loc["knn", "mse"] < rows.loc["none", "mse"]
    assert rows.loc["knn", "pcc"] > 0.3

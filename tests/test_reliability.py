"""Bad inputs, bad options and faults (issue 11): one test per defect, each asserting the behaviour.

docs/reliability.md lists every case with the test that covers it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from shared_helpers import FAST, FAST_CLI

import gnnimpute
from gnnimpute.cli import main
from gnnimpute.data.read import read_input
from gnnimpute.errors import DivergenceError, InputError
from gnnimpute.output.atomic import atomic_path, check_output_path, write_h5ad_atomic

# the code under test, wherever it was imported from (a worktree, an install)
SRC = str(Path(gnnimpute.__file__).resolve().parents[1])


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _one_error_line(result) -> str:
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def _counts(n_cells=40, n_genes=30, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).poisson(3, (n_cells, n_genes)).astype(np.float32)


def _write(path, x, **fields):
    a = ad.AnnData(
        X=sp.csr_matrix(np.asarray(x, dtype=np.float32)),
        obs=pd.DataFrame(index=[f"c{i}" for i in range(x.shape[0])]),
        var=pd.DataFrame(index=[f"g{j}" for j in range(x.shape[1])]),
    )
    for key, value in fields.items():
        setattr(a, key, value)
    a.write_h5ad(path)
    return path


def _env():
    return {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}


# --- 1. divergence is an error, never a NaN output -----------------------------------------------


def test_huge_learning_rate_stops_with_divergence_message(tmp_path, sim_h5ad):
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", sim_h5ad, out, "--no-qc", *FAST_CLI, "--lr", "1e6", "--epochs", "5")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "diverged" in line and "learning rate" in line and "--lr" in line, line
    assert not out.exists() and sorted(tmp_path.iterdir()) == [sim_h5ad]


def test_non_finite_loss_raises_at_once():
    from gnnimpute.training.stopping import check_finite

    check_finite(0.5, 0.7, 3, 1e-3)  # finite: no error
    for train, val in [(float("nan"), 1.0), (1.0, float("inf"))]:
        with pytest.raises(DivergenceError, match=r"epoch 7.*learning rate.*--lr 0\.1"):
            check_finite(train, val, 7, 0.1)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -1e6])
def test_non_finite_or_negative_output_is_never_written(bad, sim_adata, monkeypatch):
    import gnnimpute.api

    real = gnnimpute.api.decode_layers

    def broken_decode(model, zs, rows):
        level, detection = real(model, zs, rows)
        if rows.start <= 3 < rows.stop:
            level[3 - rows.start, 4] = bad
        return level, detection

    monkeypatch.setattr(gnnimpute.api, "decode_layers", broken_decode)
    adata = sim_adata.copy()
    with pytest.raises(DivergenceError, match="nothing was written"):
        gnnimpute.api.impute(adata, random_state=0, **{**FAST, "epochs": 3})
    assert "gnnimpute" not in adata.layers


@pytest.mark.parametrize("scale", [1e20, 1e37])
def test_extreme_counts_are_refused_up_front(tmp_path, scale):
    path = _write(tmp_path / "big.h5ad", _counts() * scale)
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", path, out, "--no-qc", *FAST_CLI)
    assert result.exit_code == 1
    assert "counts too large" in _one_error_line(result)
    assert not out.exists()


def test_counts_beyond_float32_are_named(tmp_path):
    frame = pd.DataFrame(_counts(10, 4).astype(np.float64), columns=list("abcd"))
    frame.iloc[2, 1] = 1e39
    frame.to_csv(tmp_path / "x.csv")
    with pytest.raises(InputError, match="do not fit in float32"):
        read_input(tmp_path / "x.csv")


# --- 2. the user's data survives ----------------------------------------------------------------


def _rich_adata(n_cells=60, n_genes=40) -> ad.AnnData:
    rng = np.random.default_rng(1)
    x = rng.poisson(4, (n_cells, n_genes)).astype(np.float32)
    x[:5, :] = 0  # five near-empty cells and
    x[:5, 0] = 1
    x[:, -3:] = 0  # three undetected genes, for QC to remove
    a = ad.AnnData(
        X=sp.csr_matrix(x),
        obs=pd.DataFrame(
            {"sample": [f"s{i % 3}" for i in range(n_cells)], "score": np.arange(n_cells) * 0.5},
            index=[f"cell{i}" for i in range(n_cells)],
        ),
        var=pd.DataFrame(
            {"symbol": [f"SYM{j}" for j in range(n_genes)]},
            index=[f"g{j}" for j in range(n_genes)],
        ),
    )
    a.layers["counts"] = a.X.copy()
    a.layers["other"] = sp.csr_matrix(x * 2)
    a.obsm["X_umap"] = rng.normal(size=(n_cells, 2)).astype(np.float32)
    a.varm["loadings"] = rng.normal(size=(n_genes, 3))
    a.obsp["connectivities"] = sp.random(
        n_cells, n_cells, density=0.1, random_state=0, format="csr"
    )
    a.uns["project"] = {"name": "mine", "version": 3}
    a.uns["colors"] = np.array(["red", "blue"])
    return a


def test_output_is_the_input_annotated_and_subset_by_qc(tmp_path):
    path = tmp_path / "in.h5ad"
    _rich_adata().write_h5ad(path)
    src = ad.read_h5ad(path)  # as written: strings become categories
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", path, out, *FAST_CLI, "--min-genes", "5", "--k", "3")
    assert result.exit_code == 0, result.output
    got = ad.read_h5ad(out)
    assert got.n_obs == src.n_obs - 5 and got.n_vars == src.n_vars - 3
    cells, genes = got.obs_names, got.var_names
    want = src[cells, genes].copy()
    assert list(cells) == [f"cell{i}" for i in range(5, 60)]
    pd.testing.assert_frame_equal(got.obs, want.obs)
    pd.testing.assert_frame_equal(got.var, want.var)
    np.testing.assert_array_equal(got.X.toarray(), want.X.toarray())
    for layer in ("counts", "other"):
        np.testing.assert_array_equal(got.layers[layer].toarray(), want.layers[layer].toarray())
    np.testing.assert_array_equal(got.obsm["X_umap"], want.obsm["X_umap"])
    np.testing.assert_array_equal(got.varm["loadings"], want.varm["loadings"])
    np.testing.assert_array_equal(
        got.obsp["connectivities"].toarray(), want.obsp["connectivities"].toarray()
    )
    assert got.uns["project"] == {"name": "mine", "version": 3}
    assert list(got.uns["colors"]) == ["red", "blue"]
    assert got.layers["gnnimpute"].shape == got.shape and "gnnimpute" in got.uns


def test_layer_option_never_replaces_x(tmp_path):
    src = _rich_adata()
    lognorm = np.log1p(src.X.toarray()).astype(np.float32)  # X holds log values, not counts
    src.X = sp.csr_matrix(lognorm)
    path = tmp_path / "in.h5ad"
    src.write_h5ad(path)
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", path, out, "--no-qc", "--layer", "counts", *FAST_CLI, "--k", "3")
    assert result.exit_code == 0, result.output
    got = ad.read_h5ad(out)
    np.testing.assert_array_equal(got.X.toarray(), lognorm)
    np.testing.assert_array_equal(got.layers["counts"].toarray(), src.layers["counts"].toarray())
    assert got.uns["gnnimpute"]["params"]["layer"] == "counts"


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused(tmp_path, sim_h5ad, link):
    before = sim_h5ad.read_bytes()
    out = tmp_path / "out.h5ad"
    if link == "same":
        out = sim_h5ad
    elif link == "symlink":
        out.symlink_to(sim_h5ad)
    else:
        os.link(sim_h5ad, out)
    result = _invoke("impute", sim_h5ad, out, "--no-qc", "--force", *FAST_CLI)
    assert result.exit_code == 1
    assert "is the input file" in _one_error_line(result)
    assert sim_h5ad.read_bytes() == before


# --- 3. validate everything before the work starts ----------------------------------------------


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the CLI gets as far as training."""
    import gnnimpute.api

    def must_not_run(*args, **kwargs):
        raise AssertionError("training started although an option was invalid")

    monkeypatch.setattr(gnnimpute.api, "impute", must_not_run)


def test_plot_path_checked_before_any_work(tmp_path, sim_h5ad, no_training):
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", sim_h5ad, out, "--no-qc", "--plot", tmp_path / "no" / "c.png")
    assert result.exit_code == 1 and "--plot folder does not exist" in _one_error_line(result)
    png = tmp_path / "curve.png"
    png.write_bytes(b"old plot")
    result = _invoke("impute", sim_h5ad, out, "--no-qc", "--plot", png)
    assert result.exit_code == 1 and "--plot exists" in _one_error_line(result)
    assert png.read_bytes() == b"old plot"
    result = _invoke("impute", sim_h5ad, out, "--no-qc", "--plot", tmp_path / "curve.txt")
    assert result.exit_code == 1 and "must end in .png" in _one_error_line(result)
    assert not out.exists()


def test_plot_overwritten_only_with_force(tmp_path, sim_h5ad):
    png = tmp_path / "curve.png"
    png.write_bytes(b"old plot")
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", sim_h5ad, out, "--no-qc", "--plot", png, "--force", *FAST_CLI)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.exists()


@pytest.mark.parametrize(
    "option,value",
    [
        ("--lr", "nan"),
        ("--lr", "inf"),
        ("--zero-weight", "inf"),
        ("--zero-weight", "nan"),
        ("--detection-shrink", "nan"),
        ("--ema-decay", "nan"),
        ("--mask-rate", "nan"),
        ("--dropout", "nan"),
        ("--max-counts", "inf"),
        ("--max-pct-mt", "nan"),
        ("--level-mix", "nan"),
        ("--attn-dropout", "nan"),
        ("--weight-decay", "inf"),
        ("--detection-weight", "nan"),
        ("--min-delta", "nan"),
    ],
)
def test_non_finite_options_refused_naming_the_option(tmp_path, sim_h5ad, option, value):
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", sim_h5ad, out, option, value)
    assert result.exit_code == 2
    assert option in result.output and "not a finite number" in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize("value", ["1", "-0.01"])
def test_min_delta_outside_zero_to_one_is_refused(tmp_path, sim_h5ad, value):
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", sim_h5ad, out, "--min-delta", value)
    assert result.exit_code == 2 and "--min-delta" in result.output, result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "command,option,value",
    [
        ("mask", "--rate", "nan"),
        ("split", "--train-frac", "inf"),
        ("simulate", "--dropout-mid", "nan"),
        ("simulate", "--lib-loc", "inf"),
    ],
)
def test_other_commands_refuse_non_finite_options(tmp_path, sim_h5ad, command, option, value):
    outs = (
        [tmp_path / "a.h5ad"]
        if command == "simulate"
        else [sim_h5ad, *(tmp_path / n for n in ("a.h5ad", "b.h5ad"))]
    )
    result = _invoke(command, *outs, option, value)
    assert result.exit_code == 2 and option in result.output
    assert "not a finite number" in result.output, result.output
    assert not (tmp_path / "a.h5ad").exists()


@pytest.mark.parametrize(
    "name",
    ["lr", "zero_weight", "detection_shrink", "ema_decay", "mask_rate", "level_mix",
     "attn_dropout", "weight_decay", "detection_weight"],
)  # fmt: skip
def test_api_refuses_non_finite_options(sim_adata, name):
    from gnnimpute.api import impute

    with pytest.raises(InputError, match=rf"{name} .*finite"):
        impute(sim_adata.copy(), **{**FAST, name: float("nan")})


def test_k_plus_one_cells_suffice(tmp_path):
    """The README promises k + 1 cells are enough: --detection-k's default (15) shrinks to fit."""
    path = _write(tmp_path / "ten.h5ad", _counts(10, 30))
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", path, out, "--no-qc", "--k", "5", *FAST_CLI)
    assert result.exit_code == 0, result.output
    params = ad.read_h5ad(out).uns["gnnimpute"]["params"]
    assert params["detection_k"] == 9 and params["detection_k_requested"] == 15
    path = _write(tmp_path / "five.h5ad", _counts(5, 30))
    result = _invoke("impute", path, tmp_path / "o2.h5ad", "--no-qc", "--k", "5", *FAST_CLI)
    assert result.exit_code == 1
    assert "need at least 6" in _one_error_line(result) and "--k 5" in result.output


# --- 4. files as users expect -------------------------------------------------------------------


@pytest.fixture
def umask():
    def set_mask(mask):
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


def test_outputs_follow_the_umask(tmp_path, umask):
    a = ad.AnnData(X=sp.csr_matrix(_counts(5, 3)))
    umask(0o022)
    out = write_h5ad_atomic(a, tmp_path / "a.h5ad")
    assert out.stat().st_mode & 0o777 == 0o644
    out.chmod(0o644)
    write_h5ad_atomic(a, out, force=True)  # --force over a 0644 file stays 0644
    assert out.stat().st_mode & 0o777 == 0o644
    umask(0o027)
    assert write_h5ad_atomic(a, tmp_path / "b.h5ad").stat().st_mode & 0o777 == 0o640


def test_long_output_names(tmp_path):
    a = ad.AnnData(X=sp.csr_matrix(_counts(5, 3)))
    legal = tmp_path / ("x" * 245 + ".h5ad")  # 250 bytes: legal on every common file system
    assert write_h5ad_atomic(a, legal).exists()
    assert [p.name for p in tmp_path.iterdir()] == [legal.name]
    with pytest.raises(InputError, match="file name is too long: 305 bytes"):
        check_output_path(tmp_path / ("y" * 300 + ".h5ad"))


def test_too_long_name_is_one_line_from_the_cli(tmp_path, sim_h5ad):
    result = _invoke("impute", sim_h5ad, tmp_path / ("y" * 300 + ".h5ad"), "--no-qc")
    assert result.exit_code == 1 and "too long" in _one_error_line(result)


def test_no_space_left_keeps_its_cause(tmp_path, monkeypatch):
    """A real HDF5 write to /dev/full: the message must end with the OS's reason."""
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full is not available to simulate a full disk")
    real = ad.AnnData.write_h5ad
    monkeypatch.setattr(ad.AnnData, "write_h5ad", lambda self, f, **k: real(self, "/dev/full"))
    target = tmp_path / "out.h5ad"
    target.write_text("old result")
    with pytest.raises(InputError) as info:
        write_h5ad_atomic(ad.AnnData(X=_counts(5, 3)), target, force=True)
    # the CLI prints the first line only: the cause must be on it
    assert str(info.value).splitlines()[0].endswith("No space left on device"), str(info.value)
    assert target.read_text() == "old result" and [p.name for p in tmp_path.iterdir()] == [
        "out.h5ad"
    ]


_SLOW_WRITE = """
import sys, time, anndata as ad
real = ad.AnnData.write_h5ad
def slow(self, filename, **kw):
    real(self, filename, **kw)
    print("WRITING", flush=True)
    time.sleep(60)
ad.AnnData.write_h5ad = slow
from gnnimpute.cli import main
sys.argv = ["gnnimpute", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM])
def test_hangup_during_write_leaves_nothing(tmp_path, sim_h5ad, sig):
    out = tmp_path / "out.h5ad"
    cmd = [sys.executable, "-c", _SLOW_WRITE, "impute", str(sim_h5ad), str(out), "--no-qc"]
    proc = subprocess.Popen(
        [*cmd, *FAST_CLI, "--epochs", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    for line in proc.stdout:
        if line.startswith("WRITING"):
            break
    assert list(tmp_path.glob(".out.h5ad.*.tmp")), "the temp file should exist mid-write"
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 130, proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == [sim_h5ad.name]


def test_plain_hdf5_is_not_a_10x_file(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(10)
    with pytest.raises(InputError, match="not a 10x HDF5 matrix"):
        read_input(path)


def test_h5ad_without_x_names_the_problem(tmp_path):
    path = tmp_path / "nox.h5ad"
    a = ad.AnnData(obs=pd.DataFrame(index=["a", "b"]), var=pd.DataFrame(index=["g"]))
    a.write_h5ad(path)
    with pytest.raises(InputError, match=r"has no X matrix.*--layer"):
        read_input(path)


@pytest.mark.parametrize("suffix", [".csv", ".tsv.gz"])
def test_ragged_table_row_is_named(tmp_path, suffix):
    import gzip

    sep = "," if suffix == ".csv" else "\t"
    lines = ["", "g0", "g1", "g2"], ["c0", "1", "2", "3"], ["c1", "4", "5"], ["c2", "7", "8", "9"]
    text = "\n".join(sep.join(row) for row in lines) + "\n"
    path = tmp_path / f"x{suffix}"
    if suffix.endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    with pytest.raises(InputError, match="line 3 has 3 fields, the header has 4"):
        read_input(path)


def test_atomic_path_removes_temp_on_error(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "x.png", tmp_suffix=".tmp.png") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("plot failed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["mask", "split"])
def test_benchmark_commands_never_overwrite_their_input(tmp_path, sim_h5ad, command):
    before = sim_h5ad.read_bytes()
    result = _invoke(command, sim_h5ad, sim_h5ad, tmp_path / "b.h5ad", "--force")
    assert result.exit_code == 1 and "is the input file" in result.output
    assert sim_h5ad.read_bytes() == before


def test_qc_leaving_fewer_than_k_plus_one_cells_names_k(tmp_path, no_training):
    x = _counts(20, 30)
    x[4:, 10:] = 0  # only the first 4 cells keep >= 20 detected genes
    path = _write(tmp_path / "in.h5ad", x)
    result = _invoke("impute", path, tmp_path / "o.h5ad", "--min-genes", "20", "--k", "5")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "too few cells after QC: 4" in line and "--k 5" in line and "--no-qc" in line


def test_bad_blend_is_refused_before_reading_the_input(tmp_path):
    out = tmp_path / "out.h5ad"
    missing = tmp_path / "absent.h5ad"  # never read: the option fails first
    missing.write_text("not an h5ad")
    result = _invoke("impute", missing, out, "--blend", "gate:1")
    assert result.exit_code == 2
    assert "--blend" in result.output and "gate takes 2 number(s)" in result.output
    assert not out.exists()

from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from shared_helpers import FAST_CLI, shared_file

from gnnimpute import __version__
from gnnimpute.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _write(path, x, obs=None, var=None):
    x = np.asarray(x, dtype=np.float32)
    ad.AnnData(
        X=sp.csr_matrix(x),
        obs=pd.DataFrame(index=obs or [f"c{i}" for i in range(x.shape[0])]),
        var=pd.DataFrame(index=var or [f"g{j}" for j in range(x.shape[1])]),
    ).write_h5ad(path)
    return path


def test_version_prints_only_the_version():
    result = _invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == __version__


@pytest.mark.parametrize(
    "command", ["impute", "simulate", "mask", "split", "evaluate", "benchmark"]
)
def test_every_command_has_help(command):
    result = _invoke(command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_impute_end_to_end_no_qc_keeps_names_and_counts(tmp_path, sim_h5ad):
    out = tmp_path / "out.h5ad"
    curve = tmp_path / "curve.png"
    result = _invoke("impute", sim_h5ad, out, "--no-qc", "--plot", curve, *FAST_CLI)
    assert result.exit_code == 0, result.output
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    src, got = ad.read_h5ad(sim_h5ad), ad.read_h5ad(out)
    assert list(got.obs_names) == list(src.obs_names) and list(got.var_names) == list(src.var_names)
    np.testing.assert_array_equal(got.X.toarray(), src.X.toarray())
    assert (
        got.layers["gnnimpute"].dtype == np.float32 and got.layers["gnnimpute"].shape == src.shape
    )
    assert got.obsm["X_gnnimpute"].shape == (src.n_obs, 8)
    info = got.uns["gnnimpute"]
    assert info["qc"]["n_cells_kept"] == src.n_obs and info["params"]["epochs"] == 40
    assert info["wall_seconds"] > 0 and "train_loss" in info["history"]
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_impute_with_qc_records_what_was_removed(tmp_path, sim_h5ad):
    out = tmp_path / "out.h5ad"
    src = ad.read_h5ad(sim_h5ad)
    detected = np.diff(src.X.tocsr().indptr)
    threshold = int(np.median(detected))
    result = _invoke(
        "impute", sim_h5ad, out, "--min-genes", threshold, "--min-cells", "3", *FAST_CLI
    )
    assert result.exit_code == 0, result.output
    got = ad.read_h5ad(out)
    qc = got.uns["gnnimpute"]["qc"]
    expected_cells = int(np.sum(detected >= threshold))
    assert got.n_obs == qc["n_cells_kept"] == expected_cells < src.n_obs
    assert qc["cells_removed_by"]["min_genes"] == src.n_obs - expected_cells
    assert set(got.obs_names) <= set(src.obs_names)


def test_same_seed_same_file_content(tmp_path, sim_h5ad):
    outs = []
    for name, seed in (("a", 1), ("b", 1)):
        out = tmp_path / f"{name}.h5ad"
        assert _invoke("impute", sim_h5ad, out, "--no-qc", "--seed", seed, *FAST_CLI).exit_code == 0
        outs.append(ad.read_h5ad(out).layers["gnnimpute"])
    np.testing.assert_array_equal(outs[0], outs[1])


def test_input_file_is_never_modified(tmp_path, sim_h5ad):
    before = sim_h5ad.read_bytes()
    assert _invoke("impute", sim_h5ad, tmp_path / "o.h5ad", "--no-qc", *FAST_CLI).exit_code == 0
    assert sim_h5ad.read_bytes() == before


def _bad_inputs(tmp_path):
    ok = np.random.default_rng(0).poisson(3, (20, 10))
    cases = {}
    corrupt = tmp_path / "corrupt.h5ad"
    corrupt.write_bytes(b"\x89HDF garbage")
    cases["corrupt"] = (corrupt, "cannot read")
    for name, value, message in [
        ("negative", -1, "negative"),
        ("nan", np.nan, "NaN or infinite"),
        ("inf", np.inf, "NaN or infinite"),
        ("fraction", 0.5, "non-integer"),
    ]:
        x = ok.astype(np.float32)
        x[2, 3] = value
        cases[name] = (_write(tmp_path / f"{name}.h5ad", x), message)
    cases["empty"] = (_write(tmp_path / "empty.h5ad", np.zeros((0, 5))), "empty matrix")
    cases["allzero"] = (_write(tmp_path / "zero.h5ad", np.zeros((20, 5))), "no non-zero counts")
    cases["fewcells"] = (_write(tmp_path / "few.h5ad", ok[:4]), "too few cells")
    return cases


@pytest.mark.parametrize(
    "case", ["corrupt", "negative", "nan", "inf", "fraction", "empty", "allzero", "fewcells"]
)
def test_bad_input_one_line_error_nothing_written(tmp_path, case):
    path, message = _bad_inputs(tmp_path)[case]
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", path, out, "--no-qc", *FAST_CLI)
    assert result.exit_code != 0
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()


def test_non_integer_accepted_with_flag(tmp_path):
    x = np.random.default_rng(0).poisson(3, (20, 10)).astype(np.float32) + 0.5
    path = _write(tmp_path / "frac.h5ad", x)
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", path, out, "--no-qc", "--allow-non-integer", "--k", "3", *FAST_CLI)
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_qc_removing_everything_fails_cleanly(tmp_path, sim_h5ad):
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", sim_h5ad, out, "--min-genes", "100000", *FAST_CLI)
    assert result.exit_code != 0 and "QC removed every cell" in result.output
    assert not out.exists()


def test_existing_output_needs_force(tmp_path, sim_h5ad):
    out = tmp_path / "out.h5ad"
    out.write_text("precious")
    result = _invoke("impute", sim_h5ad, out, "--no-qc", *FAST_CLI)
    assert result.exit_code != 0 and "output exists" in result.output
    assert out.read_text() == "precious"
    result = _invoke("impute", sim_h5ad, out, "--no-qc", "--force", *FAST_CLI)
    assert result.exit_code == 0
    assert "gnnimpute" in ad.read_h5ad(out).layers


def test_unwritable_output_folder_fails_before_work(tmp_path, sim_h5ad):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _invoke("impute", sim_h5ad, blocker / "out.h5ad", "--no-qc", *FAST_CLI)
    assert result.exit_code != 0 and "output folder does not exist" in result.output
    result = _invoke("impute", sim_h5ad, "/proc/out.h5ad", "--no-qc", *FAST_CLI)
    assert result.exit_code != 0 and "/proc" in result.output


def test_ctrl_c_leaves_no_partial_output(tmp_path, sim_h5ad, monkeypatch):
    import gnnimpute.api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gnnimpute.api, "impute", interrupted)
    out = tmp_path / "out.h5ad"
    result = CliRunner().invoke(main, ["impute", str(sim_h5ad), str(out), "--no-qc"])
    assert result.exit_code == 130
    assert list(tmp_path.iterdir()) == [sim_h5ad]


def test_sigterm_mid_training_exits_130_and_writes_nothing(tmp_path, sim_h5ad):
    """Schedulers stop jobs with SIGTERM: the real process must stop cleanly, output-free."""
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "out.h5ad"
    exe = Path(sys.executable).with_name("gnnimpute")
    cmd = [str(exe), "impute", str(sim_h5ad), str(out), "--no-qc",
           "--epochs", "100000", "--patience", "100000", "--hidden", "32,8", "--n-input", "20"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    for line in proc.stderr:  # wait until training runs
        if line.startswith("epoch"):
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, rest
    assert "interrupted" in rest
    assert sorted(p.name for p in tmp_path.iterdir()) == [sim_h5ad.name]


def test_simulate_command(tmp_path):
    out = tmp_path / "sim.h5ad"
    result = _invoke("simulate", out, "--cells", 60, "--genes", 80, "--groups", 6, "--seed", 2)
    assert result.exit_code == 0, result.output
    got = ad.read_h5ad(out)
    assert got.shape == (60, 80) and "truth" in got.layers
    assert got.obs["group"].nunique() <= 6
    assert np.all(got.X.toarray() <= got.layers["truth"].toarray())
    assert _invoke("simulate", out, "--cells", 10, "--genes", 10).exit_code != 0  # exists


def test_real_baron_subset_with_default_qc(tmp_path):
    baron = ad.read_h5ad(shared_file("baron_mouse_pancreas.h5ad"))
    subset = baron[:300].copy()
    path = tmp_path / "baron300.h5ad"
    subset.write_h5ad(path)
    out = tmp_path / "out.h5ad"
    result = _invoke("impute", path, out, "--max-pct-mt", 20, *FAST_CLI)
    assert result.exit_code == 0, result.output
    got = ad.read_h5ad(out)
    qc = got.uns["gnnimpute"]["qc"]
    # Baron ships without mitochondrial genes (no mt- names): the rule is reported as not applied
    assert not qc["max_pct_mt_applied"] and "max_pct_mt" not in qc["cells_removed_by"]
    assert got.n_obs == qc["n_cells_kept"] and got.n_vars == qc["n_genes_kept"] < subset.n_vars
    assert np.isfinite(got.layers["gnnimpute"]).all()


@pytest.mark.parametrize(
    "args, code, stream, text",
    [
        (["--version"], 0, "stdout", __version__),
        (["impute", "absent.h5ad", "out.h5ad"], 2, "stderr", "does not exist"),
        (["simulate", "sim.h5ad", "--cells", "0"], 2, "stderr", "--cells"),
    ],
)
def test_console_entry_point_keeps_exit_codes_and_flushes_output(
    tmp_path, args, code, stream, text
):
    """`run` skips the interpreter's teardown with os._exit: the exit status and everything
    printed must still get out."""
    import subprocess
    import sys

    entry = "from gnnimpute.cli import run; run()"
    proc = subprocess.run(
        [sys.executable, "-c", entry, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert proc.returncode == code
    assert text in getattr(proc, stream)

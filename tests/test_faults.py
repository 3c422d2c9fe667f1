"""Faults a real run meets: SIGKILL at any moment, and reruns in other processes.

After a SIGKILL the output is absent or complete and valid, the input is unchanged, and no temp
file is left, except when the kill lands during the write itself: no process can clean up after
SIGKILL, so the hidden `.OUTPUT.XXXXXXXX.tmp` stays (docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import pytest

import gnnimpute

# the code under test, wherever it was imported from (a worktree, an install)
SRC = str(Path(gnnimpute.__file__).resolve().parents[1])
RUN = "import sys; from gnnimpute.cli import main; sys.argv[0] = 'gnnimpute'; main()"
ARGS = ["--no-qc", "--epochs", "20", "--patience", "20", "--hidden", "32,8", "--n-input", "20",
        "--predict-draws", "2"]  # fmt: skip
# The same CLI with a slow write, so a kill can be aimed at the write itself.
SLOW_WRITE = """
import sys, time, anndata as ad
real = ad.AnnData.write_h5ad
def slow(self, filename, **kw):
    real(self, filename, **kw)
    print("WRITING", file=sys.stderr, flush=True)
    time.sleep(60)
ad.AnnData.write_h5ad = slow
from gnnimpute.cli import main
sys.argv[0] = "gnnimpute"
main()
"""


def _env(threads: int | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _impute(src: Path, out: Path, *extra, code: str = RUN, env=None) -> subprocess.Popen:
    cmd = [sys.executable, "-c", code, "impute", str(src), str(out), *ARGS, *extra]
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env or _env()
    )


def _check_after_kill(folder: Path, src: Path, out: Path, before: str, n_obs: int) -> list[str]:
    """The invariants; returns the names of temp files left (allowed only without an output)."""
    assert _digest(src) == before, "input changed"
    if out.exists():
        got = ad.read_h5ad(out)
        layer = np.asarray(got.layers["gnnimpute"])
        assert layer.shape == got.shape and got.n_obs == n_obs and np.isfinite(layer).all()
    left = sorted(p.name for p in folder.iterdir() if p not in (src, out))
    assert all(name.startswith(f".{out.name}.") and name.endswith(".tmp") for name in left), left
    assert not (left and out.exists()), "a temp file beside a complete output"
    return left


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts(tmp_path, sim_h5ad, sim_adata):
    before = _digest(sim_h5ad)
    out = tmp_path / "out.h5ad"
    start = time.monotonic()
    assert _impute(sim_h5ad, out).wait(timeout=300) == 0
    total = time.monotonic() - start
    out.unlink()
    rng = np.random.default_rng(11)
    # reading/start-up, training and the end of the run (prediction, write) all get kills
    moments = sorted(rng.uniform(0.05, 1.0, size=4) * total)
    outcomes = []
    for delay in moments:
        proc = _impute(sim_h5ad, out)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        left = _check_after_kill(tmp_path, sim_h5ad, out, before, sim_adata.n_obs)
        outcomes.append("complete" if out.exists() else ("temp left" if left else "absent"))
        out.unlink(missing_ok=True)
        for name in left:
            (tmp_path / name).unlink()
    assert set(outcomes) <= {"complete", "absent", "temp left"}
    print(f"\nSIGKILL at {[round(m, 1) for m in moments]} s of {total:.1f} s: {outcomes}")


@pytest.mark.slow
def test_sigkill_mid_write_leaves_only_the_temp_file(tmp_path, sim_h5ad, sim_adata):
    """The one case no handler can clean: the temp file stays, OUTPUT is never partial."""
    before = _digest(sim_h5ad)
    out = tmp_path / "out.h5ad"
    proc = _impute(sim_h5ad, out, code=SLOW_WRITE)
    for line in proc.stderr:
        if line.startswith("WRITING"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    left = _check_after_kill(tmp_path, sim_h5ad, out, before, sim_adata.n_obs)
    assert not out.exists() and len(left) == 1


def _layer_bytes(path: Path) -> bytes:
    return np.ascontiguousarray(ad.read_h5ad(path).layers["gnnimpute"]).tobytes()


@pytest.mark.slow
@pytest.mark.parametrize("threads", ["1", "2"])
def test_same_seed_same_bytes_across_processes(tmp_path, sim_h5ad, threads):
    outs = [tmp_path / "a.h5ad", tmp_path / "b.h5ad"]
    procs = [_impute(sim_h5ad, out, "--threads", threads, "--seed", "3") for out in outs]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert _layer_bytes(outs[0]) == _layer_bytes(outs[1])

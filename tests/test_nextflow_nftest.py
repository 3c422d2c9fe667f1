"""Runs the nf-test suites (modules/local/gnnimpute/*/tests, tests/*.nf.test) with
scripts/nf-test: nf-test from PATH when installed, else the jar next to the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _nf_test_available() -> str | None:
    res = subprocess.run(
        [str(ROOT / "scripts/nf-test"), "version"], capture_output=True, text=True, env=_env()
    )
    return None if res.returncode == 0 else (res.stdout + res.stderr).strip()[-300:]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), str(ROOT / "scripts"), env["PATH"]]
    )
    env.setdefault("NXF_JARS_CACHE", str(ROOT / ".cache" / "nextflow"))
    env.update(NXF_OFFLINE="true", NXF_DISABLE_CHECK_LATEST="true", NXF_ANSI_LOG="false")
    env.setdefault("NFT_JAVA_ARGS", "-Xmx1g")
    return env


def _run_nf_test(args: list[str], cwd: Path, timeout: int, **env_extra: str):
    """`scripts/nf-test test --ci ARGS` in `cwd` (skips without Java or nf-test): (rc, output)."""
    if shutil.which("java") is None:
        pytest.skip(
            "Java is not installed: nf-test and Nextflow cannot run (make setup installs it)"
        )
    problem = _nf_test_available()
    if problem:
        pytest.skip(f"nf-test is not available: {problem}")
    res = subprocess.run(
        [str(ROOT / "scripts/nf-test"), "test", "--ci", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**_env(), **env_extra},
        timeout=timeout,
    )
    return res, res.stdout + res.stderr


@pytest.mark.slow
def test_nf_test_suites_pass(tmp_path):
    res, out = _run_nf_test(
        [], ROOT, 1200, NFT_WORKDIR=str(tmp_path / "nf-test"),
        NXF_HOME=tempfile.mkdtemp(prefix="gnnimpute-nxf-home-", dir=tmp_path),
    )  # fmt: skip
    assert res.returncode == 0, out[-6000:]
    assert "FAILED" not in out
    # every module and the pipeline ran, none was silently left out
    for name in ("GNNIMPUTE_IMPUTE", "GNNIMPUTE_SIMULATE", "GNNIMPUTE_MASK", "GNNIMPUTE_EVALUATE"):
        assert f"Test Process {name}" in out
    assert "Test pipeline" in out


@pytest.mark.slow
@pytest.mark.parametrize("module", ["mask", "simulate", "evaluate", "impute"])
def test_a_module_folder_copied_alone_passes_its_nf_tests(tmp_path, module):
    """The module folder alone in an empty host (only nf-test's config files, empty): its
    inputs are its own tiny files or stubs, its checks run in its own environment."""
    host = tmp_path / "host"
    folder = host / "modules" / "local" / module
    shutil.copytree(ROOT / "modules/local/gnnimpute" / module, folder)
    (host / "nf-test.config").write_text('config {\n    testsDir "."\n    workDir ".nf-test"\n}\n')
    (host / "tests").mkdir()
    (host / "tests/nextflow.config").write_text(
        "// the host's settings of every nf-test run: none\n"
    )
    res, out = _run_nf_test(
        [f"modules/local/{module}/tests/"], host, 900, NXF_HOME=str(tmp_path / "nxf-home")
    )
    assert res.returncode == 0, out[-6000:]
    n_tests = {"evaluate": 2}.get(module, 3)
    assert f"Executed {n_tests} tests" in out and "FAILED" not in out, out[-3000:]
    # nothing of this repository's was there to lean on
    assert sorted(p.name for p in host.iterdir() if not p.name.startswith(".")) == [
        "modules",
        "nf-test.config",
        "tests",
    ]
    assert [p.name for p in (host / "tests").iterdir()] == ["nextflow.config"]

"""nf-core lint of the modules (in an nf-core/modules-style tree) and of the pipeline,
offline. The only failures allowed are the ones named in docs/nextflow.md, each of which
needs something this offline machine cannot have (see NETWORK_ONLY)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NFCORE = ROOT / ".venv-nfcore" / "bin" / "nf-core"

# check name -> why it cannot pass offline (also listed in docs/nextflow.md)
NETWORK_ONLY = {
    # nf-core tools >= 4.2 resolve containers with `nextflow inspect` of Nextflow >= 25.04.4,
    # which is not published on Maven Central (the only source of Nextflow reachable here)
    "docker_tag": "needs Nextflow >= 25.04.4 (download from get.nextflow.io)",
    "singularity_tag": "needs Nextflow >= 25.04.4 (download from get.nextflow.io)",
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), str(ROOT / "scripts"), env["PATH"]]
    )
    env.setdefault("NXF_JARS_CACHE", str(ROOT / ".cache" / "nextflow"))
    env.update(NXF_OFFLINE="true", NFCORE=str(NFCORE), COLUMNS="200")
    return env


def _failed_checks(output: str) -> set[str]:
    """Names of the failed checks in nf-core's result table ("[✗] ... Failed" section)."""
    failed = set()
    section = re.split(r"Tests? Failed", output, maxsplit=1)
    if len(section) < 2:
        return failed
    body = section[1].split("LINT RESULTS SUMMARY", 1)[0]
    for match in re.finditer(r"│\s*(\w+):", body):
        failed.add(match.group(1))
    return failed


@pytest.fixture(scope="module")
def nfcore():
    if not NFCORE.exists():
        pytest.skip(
            f"nf-core tools not installed in {NFCORE.parent.parent} (run: make nfcore-venv)"
        )
    return NFCORE


@pytest.mark.slow
@pytest.mark.parametrize("module", ["impute", "simulate", "mask", "evaluate"])
def test_nf_core_modules_lint(nfcore, module):
    res = subprocess.run(
        ["bash", str(ROOT / "scripts/nfcore_lint.sh"), module],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert "LINT RESULTS SUMMARY" in out, out[-3000:]
    failed = _failed_checks(out)
    assert failed <= set(NETWORK_ONLY), (
        f"unexpected lint failures {failed - set(NETWORK_ONLY)}:\n{out[-5000:]}"
    )
    assert re.search(r"\[✔\]\s+\d+ Tests Passed", out)
    docs = (ROOT / "docs/nextflow.md").read_text()
    for check in failed:
        assert f"`{check}`" in docs, f"{check} fails but docs/nextflow.md does not say why"


def _modules_repo_source() -> str | None:
    """Where nf-core tools can clone nf-core/modules from: GNNIMPUTE_NFCORE_MODULES (a local
    clone or mirror), else GitHub when it is reachable."""
    local = os.environ.get("GNNIMPUTE_NFCORE_MODULES")
    if local:
        return local
    import socket

    try:
        socket.create_connection(("github.com", 443), timeout=3).close()
    except OSError:
        return None
    return "https://github.com/nf-core/modules.git"


@pytest.mark.slow
def test_nf_core_pipelines_lint(nfcore, tmp_path):
    source = _modules_repo_source()
    if source is None:
        pytest.skip(
            "nf-core pipelines lint clones nf-core/modules: no network and no "
            "GNNIMPUTE_NFCORE_MODULES (a local clone) given"
        )
    # lint a git copy of the working tree (tracked and new files), as nf-core tools expect
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    pipeline = tmp_path / "pipeline"
    for name in filter(None, files):
        if (ROOT / name).is_file() and not name.startswith(".venv"):
            (pipeline / name).parent.mkdir(parents=True, exist_ok=True)
            (pipeline / name).write_bytes((ROOT / name).read_bytes())
    git = ["git", "-C", str(pipeline), "-c", "user.name=lint", "-c", "user.email=lint@localhost"]
    subprocess.run(["git", "init", "-q", str(pipeline)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "lint"], check=True)
    env = _env()
    home = tmp_path / "home"
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), HIDE_PROGRESS="1")
    env["NFCORE_NO_VERSION_CHECK"] = "1"
    if not source.startswith("https://"):
        clone = home / ".config" / "nfcore" / "nf-core" / "modules"
        subprocess.run(["git", "clone", "-q", source, str(clone)], check=True)
    res = subprocess.run(
        [str(nfcore), "pipelines", "lint", "--dir", str(pipeline)],
        capture_output=True,
        text=True,
        env=env,
        cwd=pipeline,
        timeout=600,
    )
    out = res.stdout + res.stderr
    assert "LINT RESULTS SUMMARY" in out, out[-3000:]
    assert re.search(r"\[✗\]\s+0 Tests Failed", out), out[-6000:]
    assert res.returncode == 0

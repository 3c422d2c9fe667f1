"""Set-up for the Nextflow pipeline tests (pytest-workflow YAMLs in this folder).

* Copies: pytest-workflow runs each workflow in a copy of the repository. A
  plain copy would include .venv (gigabytes), so unless --git-aware or
  --symlink is given this switches to --git-aware (only files that git
  tracks). Pipeline files that are not tracked yet are added to a private
  copy of the git index (GIT_INDEX_FILE), never to the repository's index.
* Nextflow: installs it offline with scripts/install_nextflow.sh (Maven
  Central jars and the nf-schema plugin, a no-op when cached) and puts
  scripts/nextflow on PATH, which copies the plugin into each NXF_HOME.
* Environment of every workflow: the test's own Python (the one with the
  gnnimpute package) first on PATH, NXF_OFFLINE=true, no update check, a
  private NXF_HOME.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_PATHS = [
    "main.nf",
    "nextflow.config",
    "nextflow_schema.json",
    "assets",
    "workflows",
    "modules",
    "bin",
    "conf",
    "subworkflows",
    "tests/workflow",
]


def _untracked_pipeline_files() -> list[str]:
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "ls-files",
                "--others",
                "--exclude-standard",
                "--",
                *PIPELINE_PATHS,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return ["<not a git checkout>"]
    return [line for line in out.splitlines() if line.strip()]


def _index_with_untracked(untracked: list[str]) -> str:
    """A private copy of the git index with the untracked pipeline files added,
    so that --git-aware also copies files that are not committed yet. The
    repository's own index is left as it is."""
    git_dir = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--absolute-git-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    fd, index = tempfile.mkstemp(prefix="gnnimpute-index-")
    os.close(fd)
    if Path(git_dir, "index").exists():
        shutil.copyfile(Path(git_dir, "index"), index)
    else:
        os.unlink(index)
    env = dict(os.environ, GIT_INDEX_FILE=index)
    subprocess.run(
        ["git", "-C", str(ROOT), "add", "--", *untracked], env=env, check=True, capture_output=True
    )
    return index


def pytest_configure(config):
    opt = config.option
    if hasattr(opt, "git_aware") and not (opt.git_aware or getattr(opt, "symlink", False)):
        opt.git_aware = True
        untracked = _untracked_pipeline_files()
        if untracked and untracked != ["<not a git checkout>"]:
            os.environ["GIT_INDEX_FILE"] = _index_with_untracked(untracked)

    env = os.environ
    bin_dirs = [str(ROOT / "scripts"), str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join([*bin_dirs, env.get("PATH", "")])
    env.setdefault("NXF_JARS_CACHE", str(ROOT / ".cache" / "nextflow"))
    env["NXF_OFFLINE"] = "true"
    env["NXF_DISABLE_CHECK_LATEST"] = "true"
    env["NXF_ANSI_LOG"] = "false"
    if "NXF_HOME" not in env:
        env["NXF_HOME"] = tempfile.mkdtemp(prefix="gnnimpute-nxf-home-")
    env.setdefault("NXF_OPTS", "-Xms256m -Xmx2g")

    # Nextflow itself: a no-op once the jars are cached
    if env.get("GNNIMPUTE_SKIP_NEXTFLOW_INSTALL") != "1":
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "install_nextflow.sh")],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def pytest_unconfigure(config):
    home = os.environ.get("NXF_HOME", "")
    if Path(home).name.startswith("gnnimpute-nxf-home-"):
        shutil.rmtree(home, ignore_errors=True)
    index = os.environ.get("GIT_INDEX_FILE", "")
    if Path(index).name.startswith("gnnimpute-index-"):
        os.environ.pop("GIT_INDEX_FILE")
        Path(index).unlink(missing_ok=True)

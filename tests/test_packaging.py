"""The package builds as a wheel and an sdist, ships only what it should, and the wheel installs
into a fresh venv whose `gnnimpute` command runs.

Offline and fast: `python -m build --no-isolation` uses the setuptools already installed, and the
fresh venv gets the wheel with `--no-deps --no-index`; its dependencies come from the test venv's
site-packages through a .pth line. A .pth path line only appends that directory to sys.path (its
own .pth files, e.g. the editable install's finder, are not run), so `gnnimpute` is imported
from the wheel, which the test checks. --system-site-packages would not do: the test venv is
itself a venv, and that flag exposes the base interpreter's site-packages, not the venv's.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("build", reason="python -m build needs the 'build' package (test extra)")

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# never part of a distribution: environments, caches, run outputs, data
SKIP = shutil.ignore_patterns(
    ".venv", ".git", ".cache", ".nextflow*", "work", "results", "build", "dist", "demo",
    "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache",
)  # fmt: skip
DATA_SUFFIXES = (".h5ad", ".h5", ".loom", ".mtx", ".npz", ".npy", ".rds", ".sif", ".tar")


def _env() -> dict[str, str]:
    """The caller's environment without PYTHONPATH, which would shadow the installed wheel."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_NO_INDEX"] = "1"
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """Build the sdist, then the wheel from the sdist (as `python -m build` does), from a copy
    of the checkout so that the build leaves nothing in the working tree."""
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src-tree"
    shutil.copytree(ROOT, src, ignore=SKIP, symlinks=True)
    out = tmp / "dist"
    res = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_build_names_the_version(dists):
    assert dists["wheel"].name == f"gnnimpute-{VERSION}-py3-none-any.whl"
    assert dists["sdist"].name == f"gnnimpute-{VERSION}.tar.gz"


def test_wheel_holds_the_package_and_license_only(dists):
    with zipfile.ZipFile(dists["wheel"]) as z:
        names = z.namelist()
        meta = email.message_from_bytes(z.read(f"gnnimpute-{VERSION}.dist-info/METADATA"))
        entry_points = z.read(f"gnnimpute-{VERSION}.dist-info/entry_points.txt").decode()
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"gnnimpute", f"gnnimpute-{VERSION}.dist-info"}
    assert "gnnimpute/cli.py" in names and "gnnimpute/__init__.py" in names
    assert f"gnnimpute-{VERSION}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if n.endswith(DATA_SUFFIXES) or "/tests/" in n]
    assert "gnnimpute = gnnimpute.cli:run" in entry_points
    # the README is the long description, and the runtime dependencies are declared
    assert meta["Name"] == "gnnimpute" and meta["Version"] == VERSION
    assert meta["License-Expression"] == "MIT"
    assert meta.get_payload().lstrip().startswith("#")
    requires = {r.split(">", 1)[0].split("=", 1)[0].strip() for r in meta.get_all("Requires-Dist")}
    assert {"torch", "torch_geometric", "anndata", "scanpy", "click"} <= requires
    assert not [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r and "pytest" in r]


def test_sdist_holds_sources_readme_and_license_but_no_data(dists):
    with tarfile.open(dists["sdist"]) as t:
        members = t.getmembers()
    prefix = f"gnnimpute-{VERSION}/"
    names = {m.name.removeprefix(prefix) for m in members if m.isfile()}
    assert {"pyproject.toml", "README.md", "LICENSE", "PKG-INFO", "src/gnnimpute/cli.py"} <= names
    assert not [n for n in names if n.endswith(DATA_SUFFIXES)]
    # sources and metadata only: no tests, pipeline, docs, benchmark outputs or venv
    top = {n.split("/", 1)[0] for n in names}
    assert top == {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "MANIFEST.in",
        "PKG-INFO",
        "setup.cfg",
        "src",
    }, top
    assert not [n for n in names if n.endswith((".pyc", ".pyo"))]
    assert sum(m.size for m in members) < 2_000_000


def test_wheel_installs_into_a_fresh_venv_and_runs(dists, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, env=_env(),
    ).stdout.strip()  # fmt: skip
    # the test venv's dependencies, visible after the fresh venv's own site-packages
    Path(site, "zz_test_venv_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    res = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
         "--no-index", str(dists["wheel"])],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    exe = venv / "bin" / "gnnimpute"
    assert exe.is_file()
    where = subprocess.run(
        [py, "-c", "import gnnimpute; print(gnnimpute.__file__)"],
        capture_output=True, text=True, check=True, env=_env(),
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(venv), f"gnnimpute imported from {where}, not the wheel"
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, env=_env())
    assert version.returncode == 0, version.stderr
    assert VERSION in version.stdout
    helptext = subprocess.run([exe, "--help"], capture_output=True, text=True, env=_env())
    assert helptext.returncode == 0, helptext.stderr
    for command in ("impute", "simulate", "mask", "evaluate"):
        assert command in helptext.stdout

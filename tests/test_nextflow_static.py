"""Static checks of the Nextflow layer. Module files are checked against nf-core's
schemas; the configuration is checked by asking Nextflow (`nextflow config -flat`,
`nextflow inspect`) rather than by reading the config text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "modules" / "local" / "gnnimpute").iterdir())
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CPU_IMAGE = f"ghcr.io/gnnimpute/gnnimpute:{VERSION}"
GPU_IMAGE = f"ghcr.io/gnnimpute/gnnimpute:{VERSION}-cuda"


def test_modules_exist():
    assert {m.name for m in MODULES} == {"impute", "simulate", "mask", "evaluate"}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_meta_and_environment_validate_against_nf_core_schemas(module):
    meta = yaml.safe_load((module / "meta.yml").read_text())
    schema = json.loads((ROOT / "tests/nfcore/meta-schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(meta)
    env_schema = json.loads((ROOT / "tests/nfcore/environment-schema.json").read_text())
    for env in module.glob("environment*.yml"):
        jsonschema.Draft202012Validator(env_schema).validate(yaml.safe_load(env.read_text()))


def _emits(text: str) -> dict[str, str]:
    """emit name -> output declaration line of a module's main.nf"""
    out = text.split("output:", 1)[1].split("when:", 1)[0]
    return {m.group(1): line for line in out.splitlines() if (m := re.search(r"emit: (\w+)", line))}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_is_self_contained_and_reports_versions_through_topics(module):
    text = (module / "main.nf").read_text()
    process = f"GNNIMPUTE_{module.name.upper()}"
    assert f"process {process} {{" in text
    # nothing from the pipeline: no bin/ wrappers, no params, no projectDir
    assert not re.search(r"gnnimpute_\w+\.sh|params\.|projectDir|baseDir", text)
    script = text.split("script:", 1)[1].split("stub:", 1)[0]
    assert re.search(rf"gnnimpute {module.name}\b", script), "the script must call the CLI itself"
    emits = _emits(text)
    versions = {k: v for k, v in emits.items() if k.startswith("versions")}
    assert "versions_gnnimpute" in versions and "versions" not in emits
    for line in versions.values():
        assert "topic: versions" in line and "eval(" in line
    assert 'path "versions.yml"' not in text
    # meta.yml documents exactly the emitted channels, and the versions topic
    meta = yaml.safe_load((module / "meta.yml").read_text())
    assert meta["name"] == process.lower()
    assert set(meta["output"]) == set(emits)
    assert len(meta["topics"]["versions"]) == len(versions)
    # the stub must not run shell code from its options (they are echoed unquoted, as
    # the script passes them)
    assert 'echo "stub' not in text


def test_gpu_module_picks_image_environment_and_device_from_the_accelerator():
    text = (ROOT / "modules/local/gnnimpute/impute/main.nf").read_text()
    assert "label 'process_gpu'" in text
    assert f"task.accelerator ? '{GPU_IMAGE}' : '{CPU_IMAGE}'" in text
    assert 'task.accelerator ? "${moduleDir}/environment.gpu.yml"' in text
    assert "--device ${task.accelerator ? 'cuda' : 'cpu'}" in text
    assert "ext.use_gpu" not in text


def _pip_pins(path: Path) -> dict[str, str]:
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return dict(p.split("==", 1) for p in pip)


def test_environments_pin_every_dependency_the_same_way():
    pyproject = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies = \[(.*?)^\]", pyproject, flags=re.S | re.M).group(1)
    names = {
        re.split(r"[<>=! ]", d.strip().strip('",'))[0].lower().replace("_", "-")
        for d in deps.splitlines()
        if d.strip()
    }
    reference = _pip_pins(ROOT / "modules/local/gnnimpute/impute/environment.yml")
    assert names <= {n.lower() for n in reference}, "a package dependency is not pinned"
    for module in MODULES:
        assert _pip_pins(module / "environment.yml") == reference
    gpu = _pip_pins(ROOT / "modules/local/gnnimpute/impute/environment.gpu.yml")
    assert {k: gpu[k] for k in reference} == reference
    assert "nvidia-cuda-runtime" in gpu


def test_bin_scripts_are_executable_and_parse():
    for script in [*sorted((ROOT / "bin").glob("*")), *sorted((ROOT / "scripts").glob("*.sh"))]:
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        subprocess.run(["bash", "-n", str(script)], check=True)
    for script in ("scripts/nextflow", "tests/workflow/make_inputs.sh", "scripts/nf-test"):
        subprocess.run(["bash", "-n", str(ROOT / script)], check=True)
        assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"


def _nextflow_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(ROOT / "scripts"), str(Path(sys.executable).parent), env["PATH"]]
    )
    env.setdefault("NXF_JARS_CACHE", str(ROOT / ".cache" / "nextflow"))
    env.update(NXF_OFFLINE="true", NXF_DISABLE_CHECK_LATEST="true", NXF_ANSI_LOG="false")
    return env


def _nextflow(*args: str, cwd: Path) -> str:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed: Nextflow cannot run (make setup installs it)")
    res = subprocess.run(
        [str(ROOT / "scripts/nextflow"), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_nextflow_env(),
        timeout=180,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@cache
def flat_config(profile: str) -> dict[str, str]:
    """`nextflow config -flat` of the pipeline: key -> value as Nextflow prints it."""
    home = Path(os.environ.get("TMPDIR", "/tmp"))
    out = _nextflow(
        "config",
        str(ROOT / "main.nf"),
        "-flat",
        *(["-profile", profile] if profile else []),
        cwd=home,
    )
    flat = {}
    for line in out.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and not line.startswith(" "):
            flat[key.strip()] = value.strip()
    return flat


@cache
def inspect_containers(profile: str) -> dict[str, str]:
    out = _nextflow("inspect", str(ROOT / "main.nf"), "-profile", profile, cwd=Path("/tmp"))
    data = json.loads(out[out.index("{") :])
    # processes run inside the GNNIMPUTE workflow: GNNIMPUTE:GNNIMPUTE_IMPUTE -> GNNIMPUTE_IMPUTE
    return {p["name"].split(":")[-1]: p["container"] for p in data["processes"]}


def test_manifest_limits_and_institutional_configs():
    flat = flat_config("")
    assert flat["manifest.name"] == "'gnnimpute/gnnimpute'"
    assert "github:'@gnnimpute'" in flat["manifest.contributors"]
    assert flat["manifest.nextflowVersion"] == "'!>=24.04.2'"
    # a local run asks for no more than this machine has (the local executor refuses more)
    cpus = min(16, len(os.sched_getaffinity(0)))
    limits = re.fullmatch(
        r"\[cpus:(\d+), memory:'([\d.]+) GB', time:'10d'\]", flat["process.resourceLimits"]
    )
    assert limits, flat["process.resourceLimits"]
    assert int(limits.group(1)) == cpus
    host_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    assert float(limits.group(2)) == pytest.approx(min(128, host_gb), abs=0.1)
    assert not any(k.startswith("params.max_") for k in flat)
    assert (
        flat["params.custom_config_base"]
        == "'https://raw.githubusercontent.com/nf-core/configs/master'"
    )
    assert flat["dag.enabled"] == "true" and flat["trace.enabled"] == "true"
    # offline, nothing is fetched from nf-core/configs and the config still loads
    assert "nfcore_custom" not in " ".join(flat)


def test_test_profile_caps_resources_to_a_small_machine():
    flat = flat_config("test")
    assert flat["process.resourceLimits"] == "[cpus:2, memory:'6 GB', time:'1h']"
    assert flat["params.simulate"] == "true" and flat["params.benchmark"] == "true"


@pytest.mark.parametrize(
    ("profile", "engine", "run_options"),
    [
        ("docker,gpu", "docker", "'-u $(id -u):$(id -g) --gpus all'"),
        ("singularity,gpu", "singularity", "'--nv'"),
        ("apptainer,gpu", "apptainer", "'--nv'"),
    ],
)
def test_gpu_profiles_pass_the_gpu_into_the_container(profile, engine, run_options):
    flat = flat_config(profile)
    assert flat[f"{engine}.enabled"] == "true"
    assert flat[f"{engine}.runOptions"] == run_options
    assert flat["params.use_gpu"] == "true"
    # accelerator and the SLURM request live in one withLabel block: a second block of the
    # same label would replace the first as a whole
    assert flat["process.'withLabel:process_gpu'.accelerator"].startswith("{")
    assert "gpu_cluster_options" in flat["process.'withLabel:process_gpu'.clusterOptions"]
    assert flat["params.gpu_cluster_options"] == "'--gres=gpu:1'"


def test_cloud_gpu_profiles():
    google = flat_config("google,gpu")
    assert google["process.executor"] == "'google-batch'"
    assert google["params.gpu_type"] == "'nvidia-tesla-t4'"
    assert google["google.batch.installGpuDrivers"] == "true"
    assert "type: params.gpu_type" in google["process.'withLabel:process_gpu'.accelerator"]
    aws = flat_config("awsbatch,gpu")
    assert aws["process.executor"] == "'awsbatch'"
    # the batch nodes are not the machine that starts the run: the default caps stay
    for flat in (aws, google):
        assert flat["process.resourceLimits"] == "[cpus:16, memory:'128 GB', time:'10d']"
    assert aws["params.gpu_type"] == "null" or "params.gpu_type" not in aws


def test_only_the_imputation_gets_the_cuda_image():
    gpu = inspect_containers("test,gpu")
    assert gpu["GNNIMPUTE_IMPUTE"] == GPU_IMAGE
    assert gpu["GNNIMPUTE_IMPUTE_MASKED"] == GPU_IMAGE
    assert gpu["GNNIMPUTE_MASK"] == CPU_IMAGE
    cpu = inspect_containers("test")
    assert set(cpu.values()) == {CPU_IMAGE}


def test_install_script_is_fast_when_cached(tmp_path):
    cache_dir = tmp_path / "cache"
    (cache_dir / "24.10.0" / "lib").mkdir(parents=True)
    (cache_dir / "24.10.0" / "lib" / "nextflow-24.10.0.jar").touch()
    (cache_dir / "24.10.0" / ".complete").write_text("24.10.0\n")
    res = subprocess.run(
        ["bash", str(ROOT / "scripts/install_nextflow.sh")],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
        env=dict(
            os.environ, NXF_JARS_CACHE=str(cache_dir), NXF_VER="24.10.0", PATH="/usr/bin:/bin"
        ),
    )
    assert res.stdout.strip().splitlines()[-1] == str(cache_dir / "24.10.0")
    assert (cache_dir / "default-version").read_text().strip() == "24.10.0"

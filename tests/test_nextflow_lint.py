"""nf-core lint of the modules (in an nf-core/modules-style tree) and of the pipeline,
offline, against pinned copies of the nf-core/modules files nf-core tools read
(tests/nfcore). The only module failures allowed are the ones named in docs/nextflow.md, each
of which needs something this offline machine cannot have (see NETWORK_ONLY); the pipeline
lint has none, and every check .nf-core.yml turns off is explained in docs/nextflow.md."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    return [n for n in out if n and (ROOT / n).is_file() and not n.startswith(".venv")]


# nf-core tools' template_strings check (nf_core/pipelines/lint/template_strings.py, 4.2.1)
JINJA = re.compile(r"[^$]{{[^:}]*}}")


def test_no_file_holds_what_nf_core_lint_takes_for_a_jinja_placeholder():
    import mimetypes

    found = []
    for name in _tracked_files():
        kind, encoding = mimetypes.guess_type(name)  # nf-core skips these binaries too
        if encoding or (kind or "").startswith(("image", "application/java-archive")):
            continue
        with open(ROOT / name, encoding="latin1") as fh:
            found += [f"{name}:{i}" for i, line in enumerate(fh, 1) if JINJA.search(line)]
    assert found == []


def test_build_containers_go_templates_are_the_double_braced_ones():
    line = next(
        ln
        for ln in (ROOT / "scripts/build_containers.sh").read_text().splitlines()
        if ln.startswith("gofmt()")
    )
    out = subprocess.run(
        ["bash", "-c", f"{line}; gofmt .Server.Version; echo; gofmt .Size"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["{" * 2 + f".{name}" + "}" * 2 for name in ("Server.Version", "Size")]


def _ignored_checks() -> list[str]:
    """Every check (or check: item) that .nf-core.yml turns off."""
    lint = yaml.safe_load((ROOT / ".nf-core.yml").read_text())["lint"]
    names = []
    for check, value in lint.items():
        if value is False:
            names.append(check)
        else:
            names += [f"{check}: {item}" for item in value]
    return names


def test_every_check_nf_core_yml_ignores_is_explained_in_docs():
    docs = (ROOT / "docs/nextflow.md").read_text()
    section = docs.split("## nf-core lint", 1)[1].split("\n## ", 1)[0]
    missing = []
    for name in _ignored_checks():
        check, _, item = name.partition(": ")
        if f"`{check}`" not in section or (item and f"`{item}`" not in section):
            missing.append(name)
    assert missing == [], f"not explained in docs/nextflow.md: {missing}"


def _pinned_modules_repo(home: Path) -> None:
    """nf-core tools' clone of nf-core/modules, made from the pinned files in tests/nfcore."""
    origin = home / "nf-core-modules"
    subprocess.run(["bash", str(ROOT / "scripts/nfcore_modules_repo.sh"), str(origin)], check=True)
    clone = home / ".config" / "nfcore" / "nf-core" / "modules"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)


@pytest.mark.slow
def test_nf_core_pipelines_lint(nfcore, tmp_path):
    """`nf-core pipelines lint` offline, against the pinned nf-core/modules files: 0 failures."""
    # lint a git copy of the working tree (tracked and new files), as nf-core tools expect
    pipeline = tmp_path / "pipeline"
    for name in _tracked_files():
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
    _pinned_modules_repo(home)
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
    passed = int(re.search(r"\[✔\]\s+(\d+) Tests Passed", out).group(1))
    assert passed >= 150, out[-3000:]  # 156 with nf-core tools 4.2.1

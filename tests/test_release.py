"""The release path: the bioconda recipe against pyproject.toml, the version everywhere the
modules and images name it, the release workflow, the CHANGELOG's form and the modules'
citation fields."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
VERSION = PYPROJECT["version"]
RECIPE = yaml.safe_load((ROOT / "recipes/gnnimpute/meta.yaml").read_text())
MODULES = ("impute", "simulate", "mask", "evaluate")
# pyproject (PyPI) name -> conda-forge name
CONDA_NAMES = {
    "torch": "pytorch",
    "torch_geometric": "pytorch_geometric",
    "matplotlib": "matplotlib-base",
    "igraph": "python-igraph",
}
DOI = "10.1186/s12859-021-04493-x"


def _requirement(spec: str) -> tuple[str, str]:
    name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", spec.strip()).groups()
    return name, bound.replace(" ", "")


def test_version_moved_off_the_first_release():
    assert VERSION == "0.2.0"


def test_recipe_is_plain_yaml_with_the_package_version_and_source():
    text = (ROOT / "recipes/gnnimpute/meta.yaml").read_text()
    assert "{{" not in text and "{%" not in text  # no Jinja: nf-core lint and plain parsers
    assert RECIPE["package"] == {"name": "gnnimpute", "version": VERSION}
    url = RECIPE["source"]["url"]
    assert url == f"https://pypi.org/packages/source/g/gnnimpute/gnnimpute-{VERSION}.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{64}", RECIPE["source"]["sha256"])
    assert RECIPE["build"]["noarch"] == "python" and RECIPE["build"]["number"] == 0
    major, minor, _ = VERSION.split(".")
    assert RECIPE["build"]["run_exports"] == [
        f"gnnimpute >={VERSION},<{major}.{int(minor) + 1}.0a0"
    ]


def test_recipe_requirements_are_pyprojects_under_conda_names():
    run = dict(_requirement(r) for r in RECIPE["requirements"]["run"])
    assert run.pop("python") == PYPROJECT["requires-python"]
    expected = {}
    for dep in PYPROJECT["dependencies"]:
        name, bound = _requirement(dep)
        expected[CONDA_NAMES.get(name, name)] = bound
    assert run == expected
    host = dict(_requirement(r) for r in RECIPE["requirements"]["host"])
    assert host["python"] == PYPROJECT["requires-python"] and "pip" in host


def test_recipe_entry_point_tests_and_about():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert RECIPE["build"]["entry_points"] == [f"{n} = {t}" for n, t in scripts.items()]
    assert "gnnimpute --version" in RECIPE["test"]["commands"]
    assert RECIPE["test"]["imports"] == ["gnnimpute"]
    assert RECIPE["about"]["license"] == PYPROJECT["license"] == "MIT"
    assert (ROOT / RECIPE["about"]["license_file"]).is_file()
    assert RECIPE["about"]["home"] == f"https://doi.org/{DOI}"
    assert f"doi:{DOI}" in RECIPE["extra"]["identifiers"]


@pytest.mark.parametrize("module", MODULES)
def test_modules_name_this_version_in_container_and_conda_pins(module):
    folder = ROOT / "modules/local/gnnimpute" / module
    images = re.findall(r"ghcr\.io/gnnimpute/gnnimpute:([\w.-]+)", (folder / "main.nf").read_text())
    assert images and {i.removesuffix("-cuda") for i in images} == {VERSION}
    for env in folder.glob("environment*.yml"):
        pins = re.findall(r"gnnimpute==([\w.]+)", env.read_text())
        assert set(pins) == {VERSION} and f"- gnnimpute=={VERSION}\n" in env.read_text(), env
    # the tests' summary process runs in the same image as the module
    summary = folder / "tests/h5ad_summary.nf"
    if summary.exists():
        assert f"ghcr.io/gnnimpute/gnnimpute:{VERSION}'" in summary.read_text()


@pytest.mark.parametrize("module", MODULES)
def test_meta_yml_cites_the_paper_and_names_no_missing_homepage(module):
    meta = yaml.safe_load((ROOT / "modules/local/gnnimpute" / module / "meta.yml").read_text())
    tool = meta["tools"][0]["gnnimpute"]
    assert tool["doi"] == DOI
    assert tool["homepage"] == f"https://doi.org/{DOI}"
    # the repository address the images' labels once named has never existed
    assert "github.com/gnnimpute" not in str(tool)


def test_citation_cff_version():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == VERSION
    assert any(ref.get("doi") == DOI for ref in cff["references"])


def test_release_workflow_builds_dists_and_both_images_for_the_tag():
    wf = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    assert wf[True]["push"]["tags"] == ["v*.*.*"]  # YAML reads the key `on` as True
    jobs = wf["jobs"]
    dist = "\n".join(str(step.get("run", "")) for step in jobs["dist"]["steps"])
    assert "python -m build" in dist and '"v$version" = "$GITHUB_REF_NAME"' in dist
    # the recipe's zeros become the published sdist's sha256
    assert 'sed "s/0\\{64\\}/$sha/" recipes/gnnimpute/meta.yaml' in dist
    assert RECIPE["source"]["sha256"] == "0" * 64
    pypi = jobs["pypi"]
    assert pypi["permissions"]["id-token"] == "write"
    assert any(s.get("uses", "").startswith("pypa/gh-action-pypi-publish") for s in pypi["steps"])
    images = jobs["images"]
    builds = {(m["dockerfile"], m["suffix"]) for m in images["strategy"]["matrix"]["include"]}
    assert builds == {("containers/Dockerfile", ""), ("containers/Dockerfile.cuda", "-cuda")}
    push = next(s for s in images["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert push["with"]["push"] is True
    assert push["with"]["tags"] == (
        "ghcr.io/gnnimpute/gnnimpute:${{ needs.dist.outputs.version }}${{ matrix.suffix }}"
    )
    assert images["permissions"]["packages"] == "write"


def test_ci_workflows_run_the_test_suite_lint_and_nf_test():
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert any("bash .ci/run" in str(s.get("run", "")) for s in ci["jobs"]["test"]["steps"])
    lint = (ROOT / ".github/workflows/linting.yml").read_text()
    assert "pytest tests/test_nextflow_lint.py" in lint
    nft = yaml.safe_load((ROOT / ".github/workflows/nf-test.yml").read_text())
    assert "published" in nft[True]["release"]["types"] and nft[True]["pull_request"]
    minimum = re.search(
        r"nextflowVersion\s*=\s*'!?>=([\d.]+)'", (ROOT / "nextflow.config").read_text()
    ).group(1)
    assert minimum in nft["jobs"]["nf-test"]["strategy"]["matrix"]["NXF_VER"]


def test_changelog_follows_keep_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## (.+)$", text, flags=re.M)
    assert releases[0] == "[Unreleased]"
    for heading in releases[1:]:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", heading), heading
    assert releases[1] == f"[{VERSION}] - " + releases[1].split(" - ")[1]
    kinds = re.findall(r"^### (.+)$", text, flags=re.M)
    allowed = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    assert set(kinds) <= allowed, set(kinds) - allowed
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        names = re.findall(r"^### (.+)$", section, flags=re.M)
        assert len(names) == len(set(names)), section.splitlines()[0]


def test_containers_doc_says_what_is_published_and_what_to_build():
    doc = (ROOT / "docs/containers.md").read_text()
    section = doc.split("## What is published", 1)[1].split("\n## ", 1)[0]
    assert "Nothing is published yet" in section
    for must in ("make containers", "python -m build --wheel", f"gnnimpute=={VERSION}",
                 "recipes/gnnimpute/meta.yaml", ".github/workflows/release.yml"):  # fmt: skip
        assert must in section, must

"""The user-facing text: no internal words, links that resolve, numbers that match their source.

Covers README.md, every page under docs/, CHANGELOG.md, CITATIONS.md, the `--help` of every
command, and the modules' and subworkflows' meta.yml.
"""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import unicodedata
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from shared_helpers import FAST_CLI

from gnnimpute.benchmark import readme as R
from gnnimpute.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").rglob("*.md"))
PROSE = [README, *PAGES, ROOT / "CHANGELOG.md", ROOT / "CITATIONS.md"]
META = sorted([*(ROOT / "modules").rglob("meta.yml"), *(ROOT / "subworkflows").rglob("meta.yml")])
SUMMARY = ROOT / "docs" / "benchmark" / "confirmation" / "summary.csv"

# how the project is organised is none of a user's business, and neither are times of day
INTERNAL = [
    (r"\bissues? ?#?\d+", "an issue number"),
    (r"\bsessions?\b", "'session'"),
    (r"\blent\b", "'lent'"),
    (r"\bengineers?\b", "'engineer'"),
    (r"\b(this|our|`[\w-]+`) branch\b|\bbranch(es)? of (this|the project)\b", "a branch"),
    (r"\bthis task\b", "'this task'"),
    (r"\b(morning|afternoon|evening)\b", "a time of day"),
    (r"\.\./shared", "a path under ../shared"),
    (r"\bpredates?\b", "'predates' (history belongs in the CHANGELOG)"),
    (r"\bcommit [0-9a-f]{7,40}\b|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b",
     "a commit hash"),
]  # fmt: skip


def _internal_words(text: str) -> list[str]:
    found = []
    for pattern, what in INTERNAL:
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            start = text.rfind("\n", 0, m.start()) + 1
            found.append(f"{what}: {text[start : text.find(chr(10), m.end())][:120]!r}")
    return found


def _commands(group=main, prefix=()):
    ctx = group.make_context("gnnimpute", [], resilient_parsing=True)
    for name in group.list_commands(ctx):
        yield (*prefix, name)


@pytest.mark.parametrize("path", PROSE + META, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_internal_words_in_user_text(path):
    assert not _internal_words(path.read_text()), _internal_words(path.read_text())


def test_no_internal_words_in_any_help():
    names = list(_commands())
    assert {"impute", "baseline", "evaluate", "mask", "benchmark"} <= {n[0] for n in names}
    texts = {"gnnimpute": CliRunner().invoke(main, ["--help"]).output}
    for (name,) in names:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        texts[name] = result.output
    bad = {n: _internal_words(t) for n, t in texts.items() if _internal_words(t)}
    assert not bad, bad
    assert "%%" not in texts["impute"]  # click prints help text literally


def test_the_check_catches_what_it_should():
    hits = _internal_words(
        "see issue 8, fixed in commit bde1fbc; no GPU was lent to this task; the `method` "
        "engineer's branch, late evening; ../shared/data"
    )
    assert len(hits) >= 7
    assert not _internal_words("10x Genomics, GSE84133, 24.10.0, task.accelerator, sha256")


# ---------------------------------------------------------------- links and anchors


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_]{1,2}([^*_]+)[*_]{1,2}", r"\1", text).strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    in_code = False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        m = None if in_code else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = github_slug(m.group(1))
            n = seen.get(slug, 0)
            out.add(slug if n == 0 else f"{slug}-{n}")
            seen[slug] = n + 1
    return out


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)


def test_slugs_follow_github():
    assert github_slug("Limitations and when not to use it") == "limitations-and-when-not-to-use-it"
    assert github_slug("`--threads` on a shared machine!") == "--threads-on-a-shared-machine"
    assert github_slug("A learning-rate decay (the default)") == "a-learning-rate-decay-the-default"


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_anchor_resolves(path):
    broken = []
    for target in links(path):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor}")
    assert not broken, broken


# ---------------------------------------------------------------- README's numbers


def _block(text: str) -> str:
    return R.BEGIN + text.split(R.BEGIN, 1)[1].split(R.END, 1)[0] + R.END


def test_readme_block_is_what_the_results_file_generates():
    assert _block(README.read_text()) == R.section(ROOT / "docs" / "benchmark"), (
        "README's results are stale: run `make readme-results`"
    )


ROW_METHOD = {
    "`gnnimpute_level`": "gnnimpute_level",
    "`gnnimpute_level` × `gnnimpute_detection`": "gnnimpute_expected",
    "`gnnimpute` (default)": "gnnimpute",
    "no imputation": "none",
}
TITLE = {"Hidden values": ("mask", {"": "mse"}),
         "Counts for count models": ("split", {"": "mcv_poisson_nll"}),
         "Clustering": ("mask", {"k-means ARI": "ari_kmeans", "Leiden ARI": "ari_leiden"})}  # fmt: skip
DATASET = {v: k for k, v in R.SHORT.items()}


def test_every_number_the_readme_quotes_matches_the_results_file():
    """Read back from the tables themselves, not through the code that wrote them."""
    s = pd.read_csv(SUMMARY)
    checked = 0
    title = None
    header: list[str] = []
    for line in _block(README.read_text()).splitlines():
        if m := re.match(r"\*\*(.+?)\*\*:", line):
            title = m.group(1)
        elif line.startswith("| output |"):
            header = [c.strip() for c in line.strip("|").split("|")][1:]
        elif line.startswith("| ") and not line.startswith("|---") and title in TITLE:
            cells = [c.strip() for c in line.strip("|").split("|")]
            protocol, metrics = TITLE[title]
            for col, cell in zip(header, cells[1:], strict=True):
                m = re.match(r"\**(-?[\d.]+)(?: ± ([\d.]+))?\**(?: \((\w+)\))?$", cell)
                if not m:
                    assert cell == "–", cell
                    continue
                method = m.group(3) or ROW_METHOD[cells[0]]
                name, _, metric_head = col.partition(" ")
                name = "PBMC 4k" if col.startswith("PBMC 4k") else name
                metric_head = col[len(name) :].strip()
                metric = metrics.get(metric_head) or metrics[""]
                row = s[(s["dataset"] == DATASET[name]) & (s["method"] == method)
                        & (s["protocol"] == protocol)]  # fmt: skip
                assert len(row) == 1, (title, col, method)
                decimals = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
                tol = 0.5 * 10.0**-decimals + 1e-9
                assert abs(float(m.group(1)) - row[metric].iloc[0]) <= tol, (title, col, cell)
                if m.group(2) is not None:
                    assert abs(float(m.group(2)) - row[f"{metric}_sd"].iloc[0]) <= tol, cell
                checked += 1
    assert checked >= 30  # three tables, four rows, three data sets


def test_hand_written_readme_quotes_no_result():
    """Results appear only in the generated block, so no hand-written one can contradict it."""
    text = README.read_text()
    outside = text.split(R.BEGIN)[0] + text.split(R.END)[1]
    assert not re.search(r"\d ± \d", outside)
    scores = re.findall(r"(?<![\w.])0\.\d{2,}", outside)  # an ARI, a PCC, a loss
    assert not scores, scores


def test_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 150, len(lines)
    headings = [ln for ln in lines if ln.startswith("## ")]
    order = ["## Install", "## Run", "## Which layer for which use", "## Results",
             "## Limitations and when not to use it"]  # fmt: skip
    assert [h for h in headings if h in order] == order
    text = "\n".join(lines)
    for layer in ("gnnimpute_level", "gnnimpute_detection", "layers['gnnimpute']"):
        assert layer in text
    assert "make containers" in text and "not yet published" in text
    assert "docs/benchmark/uses.png" in text and "tsne_" in text


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")]
    assert commands[-1] == "make test"
    assert re.search(r"^make test\b", README.read_text(), flags=re.M)
    assert re.search(r"^make demo\b", README.read_text(), flags=re.M)


# ---------------------------------------------------------------- other sources of truth


def _option_defaults(command: str) -> dict[str, object]:
    ctx = main.make_context("gnnimpute", [command, "--help"], resilient_parsing=True)
    cmd = main.get_command(ctx, command)
    return {o: (None if getattr(p, "is_flag", False) else p.default)
            for p in cmd.params for o in getattr(p, "opts", [])}  # fmt: skip


def test_usage_options_table_matches_the_command():
    defaults = _option_defaults("impute")
    text = (ROOT / "docs" / "usage.md").read_text()
    rows = re.findall(r"^\| `(--[\w-]+)` \| ([^|]+) \|", text, flags=re.M)
    assert len(rows) >= 10
    for option, shown in rows:
        assert option in defaults, f"{option} is not an option of impute"
        value, shown = defaults[option], shown.strip().strip("`")
        if isinstance(value, bool) or value is None:
            continue  # flags and unset options: 'off', 'none', torch's choice
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert float(shown) == float(value), (option, shown, value)
        else:
            assert shown == str(value), (option, shown, value)


def test_pipeline_parameters_are_generated_from_the_schema():
    tool = runpy.run_path(str(ROOT / "scripts" / "docs_params.py"))
    assert tool["main"](["--check"]) == 0, "run python scripts/docs_params.py"
    schema = json.loads((ROOT / "nextflow_schema.json").read_text())
    known = {n for g in schema["$defs"].values() for n in g["properties"]}
    page = (ROOT / "docs" / "pipeline.md").read_text()
    runs = [re.sub(r"'[^']*'", "", ln) for ln in page.splitlines() if "nextflow run" in ln]
    used = {m for ln in runs for m in re.findall(r"(?<![\w-])--([a-z][a-z0-9_]*)", ln)}
    assert used <= known, used - known


def test_citation_cff_is_valid_cff_1_2():
    schema = json.loads((ROOT / "tests" / "data" / "cff-schema-1.2.0.json").read_text())
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    jsonschema.validate(cff, schema, format_checker=jsonschema.FormatChecker())
    assert cff["cff-version"] == "1.2.0"
    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert cff["version"] == version.group(1)
    assert any(r.get("doi") == "10.1186/s12859-021-04493-x" for r in cff["references"])
    broken = {k: v for k, v in cff.items() if k != "authors"}
    with pytest.raises(jsonschema.ValidationError, match="authors"):
        jsonschema.validate(broken, schema)


def test_data_sets_are_cited():
    text = (ROOT / "CITATIONS.md").read_text() + (ROOT / "docs" / "benchmark.md").read_text()
    for needle in ("Baron", "GSE84133", "10x Genomics", "CC BY 4.0", "Cao", "Science 357"):
        assert needle in text.replace("*", ""), needle


def test_demo_target_prints_the_baselines_beside_the_scores(tmp_path):
    """The demo's own commands, from the Makefile, on a tiny simulation."""
    stamp = tmp_path / "installed"  # newer than pyproject.toml: make sees the set-up as done
    stamp.touch()
    out = subprocess.run(["make", "-n", "-s", "demo", f"DEMO={tmp_path}", "BIN=.venv/bin",
                          f"STAMP={stamp}"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    commands = [ln.strip() for ln in out.splitlines() if "gnnimpute " in ln and "echo" not in ln]
    assert [c.split()[1] for c in commands] == ["simulate", "mask", "impute", "baseline",
                                                 "evaluate"]  # fmt: skip
    runner = CliRunner()
    result = None
    for command in commands:
        args = command.split()[1:]
        if args[0] == "simulate":
            args = [a for a in args]
            args[args.index("--cells") + 1], args[args.index("--genes") + 1] = "150", "200"
        if args[0] == "impute":
            args += ["--epochs", "20", "--hidden", "32,8", "--quiet"]
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, (command, result.output)
    header = result.output.splitlines()[0].split("\t")
    assert header == ["metric", "gnnimpute", "normalized", "knn", "knn_level"]
    mse = next(ln.split("\t") for ln in result.output.splitlines() if ln.startswith("mse\t"))
    assert all(np.isfinite(float(v)) for v in mse[1:])
    ari = next(ln.split("\t") for ln in result.output.splitlines() if ln.startswith("ari_kmeans"))
    assert len(ari) == 5


def test_every_default_blend_the_pages_name_is_the_default():
    """A page that calls a blend the default must name the command's default."""
    default = _option_defaults("impute")["--blend"]
    pages = [README, *PAGES, ROOT / "src" / "gnnimpute" / "cli.py"]
    named = []
    for path in pages:
        text = path.read_text()
        named += [(path.name, m) for m in re.findall(
            r"default[^.`|]{0,20}`(?:--blend )?((?:keep:)?(?:gate|power|level|expected)[\w:.,]*)`",
            text)]  # fmt: skip
        # "the package defaults (..., `--level-mix 0.5 --blend SPEC`)"
        named += [(path.name, m) for m in re.findall(
            r"defaults?\b[^`]{0,120}`[^`]*--blend ((?:keep:)?(?:gate|power|level|expected)[\w:.,]*)`",
            text)]  # fmt: skip
    assert named, "no page names the default blend"
    assert all(spec == default for _, spec in named), (default, named)
    assert (
        f"--level-mix {_option_defaults('impute')['--level-mix']}"
        in (ROOT / "docs" / "method.md").read_text()
    )


def test_readme_says_how_to_get_every_layer_it_names(tmp_path, sim_h5ad):
    """A layer a default run does not write needs the option that writes it, named in the table."""
    out = tmp_path / "out.h5ad"
    result = CliRunner().invoke(main, ["impute", str(sim_h5ad), str(out), "--no-qc", *FAST_CLI])
    assert result.exit_code == 0, result.output
    import anndata as ad

    written = set(ad.read_h5ad(out).layers)
    text = README.read_text()
    table = text.split("## Which layer for which use", 1)[1].split("\n## ", 1)[0]
    for layer in ("gnnimpute", "gnnimpute_level", "gnnimpute_detection"):
        assert f"'{layer}'" in table, layer
        if layer not in written:
            assert "--layers" in table, f"a default run does not write {layer}: say how"

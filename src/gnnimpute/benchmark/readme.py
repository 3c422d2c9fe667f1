"""The README's results: one small table per use, and one plot, generated from the benchmark.

The README is a front page, so it shows only the confirmation split (data no choice has seen)
and, per use, the layer gnnimpute offers for it beside no imputation, the best simple baseline
(kNN averaging or the kNN level) and the best other method. Every number is mean ± sd over the
mask seeds, read from `confirmation/summary.csv`; the seeds are read from `results.csv`. The
full tables, the development split and every metric stay in docs/benchmark.

    python -m gnnimpute.benchmark.readme RESULTS_DIR README.md [PNG]
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .tables import md_table

BEGIN, END = "<!-- benchmark:begin -->", "<!-- benchmark:end -->"
SHORT = {"baron_mouse_pancreas": "Baron", "pbmc4k_top2000": "PBMC 4k", "worm_neurons": "worm"}
SIMPLE = ("knn", "knn_level")  # no training: what a user can always run first
OTHERS = ("gnnimpute_paper", "magic", "alra", "scvi")


@dataclass(frozen=True)
class Use:
    title: str
    method: str  # the benchmark row of the layer offered for this use
    layer: str  # how the README names that layer
    protocol: str  # mask (hidden counts) or split (molecular cross-validation)
    metrics: tuple[tuple[str, str], ...]  # (summary column, its heading)
    lower_is_better: bool
    note: str


USES = (
    Use(
        "Hidden values", "gnnimpute_level", "`gnnimpute_level`", "mask", (("mse", "MSE"),), True,
        "MSE on the hidden non-zero counts (normalized counts; lower is better)",
    ),
    Use(
        "Counts for count models", "gnnimpute_expected",
        "`gnnimpute_level` × `gnnimpute_detection`", "split",
        (("mcv_poisson_nll", "Poisson NLL"),), True,
        "molecular cross-validation at train fraction 0.9: Poisson negative log-likelihood of "
        "the test counts, each cell's values rescaled to its test total (lower is better)",
    ),
    Use(
        "Clustering", "gnnimpute", "`gnnimpute` (default)", "mask",
        (("ari_kmeans", "k-means ARI"), ("ari_leiden", "Leiden ARI")), False,
        "ARI against the cell labels, k-means with k = the number of labels and Leiden at the "
        "resolution giving as many clusters (higher is better)",
    ),
)  # fmt: skip


def _rows(s: pd.DataFrame, protocol: str) -> pd.DataFrame:
    sub = s[(s["protocol"] == protocol) & (s.get("n_ok", 1) > 0)]
    column, value = ("rate", 0.1) if protocol == "mask" else ("train_frac", 0.9)
    return sub[np.isclose(sub[column].astype(float), value)]


def _value(sub: pd.DataFrame, dataset: str, method: str, column: str):
    row = sub[(sub["dataset"] == dataset) & (sub["method"] == method)]
    if row.empty or column not in row or not np.isfinite(row[column].iloc[0]):
        return None
    sd = row[f"{column}_sd"].iloc[0] if f"{column}_sd" in row else np.nan
    return float(row[column].iloc[0]), (float(sd) if np.isfinite(sd) else None)


def fmt(mean: float, sd: float | None) -> str:
    """3 significant digits (whole units from 100 on); the sd to the mean's last digit."""
    if abs(mean) >= 100:
        decimals = 0
    else:
        magnitude = int(np.floor(np.log10(abs(mean)))) if mean != 0 else 0
        decimals = max(0, 2 - magnitude)
    text = f"{mean:.{decimals}f}"
    return text if sd is None else f"{text} ± {sd:.{decimals}f}"


def _best(sub, dataset, methods, column, lower):
    found = [(m, v) for m in methods if (v := _value(sub, dataset, m, column)) is not None]
    if not found:
        return None
    return min(found, key=lambda mv: mv[1][0] if lower else -mv[1][0])


def use_table(s: pd.DataFrame, use: Use) -> list[str]:
    sub = _rows(s, use.protocol)
    datasets = [d for d in dict.fromkeys(sub["dataset"]) if not str(d).startswith("sim")]
    if use.method not in set(sub["method"]) or not datasets:
        return []
    if use.protocol == "mask" and any(c.startswith("ari") for c, _ in use.metrics):
        datasets = [d for d in datasets if _value(sub, d, "none", use.metrics[0][0]) is not None]
    header = ["output"]
    for d in datasets:
        header += [f"{SHORT.get(d, d)} {h}" if len(use.metrics) > 1 else SHORT.get(d, d)
                   for _, h in use.metrics]  # fmt: skip
    lines = [[use.layer], ["no imputation"], ["best simple baseline"], ["best other method"]]
    for d in datasets:
        for column, _ in use.metrics:
            own = _value(sub, d, use.method, column)
            none = _value(sub, d, "none", column)
            simple = _best(sub, d, SIMPLE, column, use.lower_is_better)
            other = _best(sub, d, OTHERS, column, use.lower_is_better)
            cells = [(own, ""), (none, ""), *((b[1], f" ({b[0]})") if b else (None, "")
                                             for b in (simple, other))]  # fmt: skip
            means = [v[0] for v, _ in cells if v is not None]
            top = (min if use.lower_is_better else max)(means) if means else None
            for row, (v, name) in zip(lines, cells, strict=True):
                if v is None:
                    row.append("–")
                else:  # the best mean of the column in bold: a look, not a verdict (see sd)
                    text = fmt(*v)
                    row.append((f"**{text}**" if v[0] == top else text) + name)
    return [f"**{use.title}**: {use.note}.", "", md_table(header, lines), "",
            *_verdicts(sub, datasets, use), ""]  # fmt: skip


def _verdicts(sub: pd.DataFrame, datasets: list[str], use: Use) -> list[str]:
    """Against no imputation and the best simple baseline: ahead, tied or behind, per set.

    A gap no larger than the larger sd of the two means is inside the spread: a tie.
    """
    out = []
    for label, methods in (("no imputation", ("none",)), ("the best simple baseline", SIMPLE)):
        groups: dict[str, list[str]] = {"ahead": [], "tied": [], "behind": []}
        for d in datasets:
            for column, heading in use.metrics:
                own = _value(sub, d, use.method, column)
                other = _best(sub, d, methods, column, use.lower_is_better)
                if own is None or other is None:
                    continue
                gap = (other[1][0] - own[0]) * (1 if use.lower_is_better else -1)
                spread = max(own[1] or 0.0, other[1][1] or 0.0)
                kind = "tied" if abs(gap) <= spread else "ahead" if gap > 0 else "behind"
                name = SHORT.get(d, d) + (f" {heading}" if len(use.metrics) > 1 else "")
                groups[kind].append(name)
        parts = [f"{kind} on {', '.join(names)}" for kind, names in groups.items() if names]
        if parts:
            out.append(f"against {label}: " + "; ".join(parts))
    return [f"{use.layer}, {' / '.join(out)} (a gap inside the larger sd is a tie)."] if out else []


def _seeds(results_csv: Path) -> str:
    """'worm mask seeds 0-2; Baron, PBMC 4k 10-12', read from the per-run rows."""
    if not results_csv.is_file():
        return ""
    r = pd.read_csv(results_csv)
    r = r[r["protocol"] == "mask"]
    groups: dict[str, list[str]] = {}
    for d, seeds in r.groupby("dataset", sort=False)["seed"]:
        s = sorted({int(x) for x in seeds})
        run = len(s) > 1 and s == list(range(s[0], s[-1] + 1))
        text = f"{s[0]}-{s[-1]}" if run else ",".join(map(str, s))
        groups.setdefault(text, []).append(SHORT.get(d, d))
    return "; ".join(f"{', '.join(names)} at mask seeds {text}" for text, names in groups.items())


def section(results: Path) -> str:
    folder = Path(results) / "confirmation"
    path = folder / "summary.csv"
    parts = [BEGIN]
    if not path.is_file():
        parts += [f"(not run: no {path})", END]
        return "\n".join(parts)
    s = pd.read_csv(path)
    seeds = _seeds(folder / "results.csv")
    runs = (
        s.loc[s["protocol"] == "split", "n_runs"] if "n_runs" in s else pd.Series([], dtype=float)
    )
    splits = int(runs.max()) if runs.notna().any() else 0
    spread = (
        f"molecular cross-validation over {splits} split seeds"
        if splits > 1
        else "molecular cross-validation has one split seed, so no spread"
    )
    parts += [
        "Generated by `make readme-results` from the benchmark's confirmation split: data no "
        f"choice was made on ({seeds}). Mean ± sd over the mask seeds; {spread}. "
        "The best simple baseline is the "
        "better of kNN averaging (`knn`, k = 15) and the kNN level (`knn_level`); the best "
        "other method is the best of `--preset paper`, MAGIC, ALRA and scVI where they ran.",
        "",
    ]
    for use in USES:
        parts += use_table(s, use)
    parts.append(END)
    return "\n".join(parts)


def plot_uses(results: Path, png: Path) -> bool:
    """One figure, a panel per use: the layer beside no imputation and the baselines, ± sd."""
    path = Path(results) / "confirmation" / "summary.csv"
    if not path.is_file():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = pd.read_csv(path)
    panels = [(u, c, h) for u in USES for c, h in u.metrics]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6))
    colours = ["#1b6ca8", "#9e9e9e", "#e3a33b", "#6aa84f"]
    for ax, (use, column, heading) in zip(np.atleast_1d(axes), panels, strict=True):
        sub = _rows(s, use.protocol)
        datasets = [d for d in dict.fromkeys(sub["dataset"]) if not str(d).startswith("sim")]
        datasets = [d for d in datasets if _value(sub, d, use.method, column) is not None]
        for j, d in enumerate(datasets):
            own = _value(sub, d, use.method, column)
            simple = _best(sub, d, SIMPLE, column, use.lower_is_better)
            none = _value(sub, d, "none", column)
            bars = [(use.method, own), ("no imputation", none),
                    ("best simple baseline", simple[1] if simple else None)]  # fmt: skip
            ref = abs(none[0]) if none and none[0] else abs(own[0]) or 1.0
            for i, (name, v) in enumerate(bars):
                if v is None:
                    continue
                ax.bar(j + (i - 1) * 0.27, v[0] / ref, 0.25, yerr=(v[1] or 0) / ref,
                       color=colours[i], label=name if j == 0 else None, capsize=2)  # fmt: skip
        ax.set_xticks(range(len(datasets)), [SHORT.get(d, d) for d in datasets])
        better = "lower" if use.lower_is_better else "higher"
        ax.set_title(f"{use.title}: {heading}\n(÷ no imputation; {better} is better)", fontsize=9)
        if datasets:
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=png.parent, prefix=".uses.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, png)
    return True


def splice(readme: Path, text: str, *, begin: str = BEGIN, end: str = END) -> None:
    """Replace the block from `begin` to `end` (`text` includes both) atomically: temp file, rename."""
    readme = Path(readme)
    old = readme.read_text()
    if begin not in old or end not in old:
        raise SystemExit(f"{readme}: no {begin} ... {end} block to replace")
    head, rest = old.split(begin, 1)
    tail = rest.split(end, 1)[1]
    fd, tmp = tempfile.mkstemp(dir=readme.parent, prefix=".README.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(head + text + tail)
    os.replace(tmp, readme)


def main(argv: list[str] | None = None) -> None:
    """python -m gnnimpute.benchmark.readme RESULTS_DIR README.md [PNG]"""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        raise SystemExit("usage: python -m gnnimpute.benchmark.readme RESULTS_DIR README.md [PNG]")
    results, readme = Path(args[0]), Path(args[1])
    splice(readme, section(results))
    png = Path(args[2]) if len(args) == 3 else readme.parent / "docs" / "benchmark" / "uses.png"
    plot_uses(results, png)


if __name__ == "__main__":
    main()

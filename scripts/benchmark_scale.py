#!/usr/bin/env python
"""Scale benchmark: wall time and peak memory of `gnnimpute impute` from 10k to 100k cells.

Cells are resampled from real data: each new cell copies a random source cell and redraws its
counts as Poisson(count x u), with u log-normal per cell, so sparsity and library sizes stay
realistic (about 8 % non-zero for PBMC 4k) while no two cells are identical. Each run is a child
process; its peak memory is the larger of the kernel's peak RSS (wait4) and the sum of RSS over
the process tree sampled every 0.5 s.

    python scripts/benchmark_scale.py                 # every size (hours on 2 cores)
    python scripts/benchmark_scale.py --sizes 10000,25000 --skip-baron
    python scripts/benchmark_scale.py --plot-only     # redraw docs/scale.{png,md} from the JSON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "docs" / "scale.json"
SIZES = (10_000, 25_000, 50_000, 100_000)
LOGNORMAL_SIGMA = 0.3
README_BEGIN, README_END = "<!-- scale:begin -->", "<!-- scale:end -->"


def resample(counts: sp.csr_matrix, n_cells: int, *, seed: int = 0) -> sp.csr_matrix:
    """`n_cells` new cells: source rows drawn with replacement, counts ~ Poisson(count x u)."""
    rng = np.random.default_rng(seed)
    counts = sp.csr_matrix(counts, dtype=np.float32)
    out = []
    for start in range(0, n_cells, 20_000):  # chunks bound the float64 Poisson temporaries
        n = min(20_000, n_cells - start)
        rows = counts[rng.integers(0, counts.shape[0], size=n)]
        u = rng.lognormal(-(LOGNORMAL_SIGMA**2) / 2, LOGNORMAL_SIGMA, size=n)
        rows.data = rng.poisson(rows.data * np.repeat(u, np.diff(rows.indptr))).astype(np.float32)
        rows.eliminate_zeros()
        out.append(rows)
    return sp.csr_matrix(sp.vstack(out, format="csr"), dtype=np.float32)


def make_input(source: Path, n_cells: int, path: Path, *, seed: int = 0) -> dict:
    """Write a resampled .h5ad (same genes as `source`) and return its shape and density."""
    import anndata as ad
    import pandas as pd

    src = ad.read_h5ad(source)
    x = resample(src.X, n_cells, seed=seed)
    keep = np.asarray((x > 0).sum(axis=1)).ravel() > 0  # a cell with no counts is not a cell
    x = x[keep]
    adata = ad.AnnData(
        X=x,
        obs=pd.DataFrame(index=[f"cell{i}" for i in range(x.shape[0])]),
        var=pd.DataFrame(index=src.var_names.copy()),
    )
    adata.write_h5ad(path)
    return {"cells": x.shape[0], "genes": x.shape[1], "density": x.nnz / np.prod(x.shape)}


def measure(cmd: list[str], log_path: Path) -> dict:
    """Run `cmd`, stderr to `log_path`; wall seconds and peak RSS (GiB) of the process tree."""
    import psutil

    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        parent, tree_peak = psutil.Process(proc.pid), 0
        while True:
            # wait4 on this child alone: RUSAGE_CHILDREN would carry an earlier, bigger run's peak
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                procs = [parent, *parent.children(recursive=True)]
                tree_peak = max(tree_peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.5)
    return {
        "wall_s": time.perf_counter() - start,
        "peak_gib": max(tree_peak, usage.ru_maxrss * 1024) / 1024**3,
        "exit": os.waitstatus_to_exitcode(status),
    }


def run_one(name: str, source: Path, n_cells: int, extra: list[str], tmp: Path) -> dict:
    inp, out = tmp / f"{name}.h5ad", tmp / f"{name}.imputed.h5ad"
    shape = make_input(source, n_cells, inp)
    cmd = [sys.executable, "-m", "gnnimpute.cli", "impute", str(inp), str(out), "--seed", "0"]
    # the three dense layers the published numbers were measured with
    cmd += ["--no-qc", "--force", "--layers", "gnnimpute,level,detection", *extra]
    print(f"[{name}] {shape['cells']} x {shape['genes']}, {shape['density']:.1%} non-zero: "
          f"{' '.join(cmd[2:])}", file=sys.stderr, flush=True)  # fmt: skip
    row = {"name": name, **shape, **measure(cmd, tmp / f"{name}.log")}
    row["log_tail"] = (tmp / f"{name}.log").read_text().splitlines()[-25:]
    if row["exit"] == 0:
        import h5py

        with h5py.File(out, "r") as f:
            uns = f["uns/gnnimpute"]
            row["epochs"] = int(uns["epochs_run"][()])
            row["train_s"] = float(uns["train_seconds"][()])
        row["s_per_epoch"] = row["train_s"] / max(row["epochs"], 1)
    out.unlink(missing_ok=True)
    inp.unlink(missing_ok=True)
    print(json.dumps({k: v for k, v in row.items() if k != "log_tail"}), file=sys.stderr)
    return row


def slope(rows: list[dict], key: str) -> float | None:
    """Fitted log-log slope of `key` against cells (None with fewer than two points)."""
    pts = [(r["cells"], r[key]) for r in rows if r.get("exit") == 0 and r.get(key)]
    if len(pts) < 2:
        return None
    x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def _series(results: list[dict]) -> dict[str, list[dict]]:
    """Rows grouped by input and tag (pbmc, pbmc-5ep, baron, ...), each sorted by cells."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        source, _, rest = r["name"].partition("-")
        tag = rest.partition("k")[2]
        groups.setdefault(source + tag, []).append(r)
    return {k: sorted(v, key=lambda r: r["cells"]) for k, v in sorted(groups.items())}


def write_report(results: list[dict], png: Path, md: Path) -> None:
    """docs/scale.png (log-log wall and memory against cells, slopes in the legend) and a table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = _series(results)
    # wall time also carries the number of epochs, which the stopping rule sets run by run;
    # seconds per epoch show what the cost of the work itself does with size
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, label in (
        (axes[0], "wall_s", "wall (s)"),
        (axes[1], "s_per_epoch", "training s / epoch"),
        (axes[2], "peak_gib", "peak RSS (GiB)"),
    ):
        for group, rows in series.items():
            ok = [r for r in rows if r["exit"] == 0 and r.get(key)]
            if not ok:
                continue
            b = slope(ok, key)
            name = f"{group} x {ok[0]['genes']} genes" + (
                f" (slope {b:.2f})" if b is not None else ""
            )
            ax.loglog([r["cells"] for r in ok], [r[key] for r in ok], "o-", label=name)
        ax.set_xlabel("cells")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    lines = [
        "| run | cells | genes | non-zero | wall (s) | peak RSS (GiB) | epochs | s/epoch | exit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in series.values():
        for r in rows:
            lines.append(
                f"| {r['name']} | {r['cells']} | {r['genes']} | {r['density']:.1%} "
                f"| {r['wall_s']:.0f} | {r['peak_gib']:.2f} | {r.get('epochs', '-')} | "
                f"{r.get('s_per_epoch', float('nan')):.2f} | {r['exit']} |"
            )
    lines.append("")
    for group, rows in series.items():
        for key, name in (("wall_s", "wall"), ("s_per_epoch", "s/epoch"), ("peak_gib", "peak RSS")):
            b = slope(rows, key)
            if b is not None:
                lines.append(f"- {group}: fitted log-log slope of {name} against cells: {b:.2f}")
    md.write_text("\n".join(lines) + "\n")


def readme_block(table: str) -> str:
    """docs/scale.md's scale block: the table between its markers."""
    return f"{README_BEGIN}\n{table.rstrip()}\n{README_END}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--skip-baron", action="store_true", help="Skip 100k x ~15k from Baron.")
    parser.add_argument("--baron-cells", type=int, default=100_000)
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--table", type=Path, default=ROOT / "docs" / "scale_table.md")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "scale.png")
    parser.add_argument("--readme", type=Path, default=None,
                        help="Page whose scale block gets the table (default: docs/scale.md "
                        "when the results are the default docs/scale.json).")  # fmt: skip
    parser.add_argument("--tag", default="", help="Suffix for the row names, e.g. -5ep.")
    parser.add_argument(
        "impute_args", nargs="*", help="Extra `gnnimpute impute` options (after --)."
    )
    args = parser.parse_args()
    results = json.loads(args.results.read_text()) if args.results.exists() else []
    if not args.plot_only:
        pbmc, baron = DATA / "pbmc4k_top2000.h5ad", DATA / "baron_mouse_pancreas.h5ad"
        for path in (pbmc, baron):
            if not path.exists():
                print(f"input not found: {path}", file=sys.stderr)
                return 2
        jobs = [
            (f"pbmc-{int(n) // 1000}k{args.tag}", pbmc, int(n)) for n in args.sizes.split(",") if n
        ]
        if not args.skip_baron:
            jobs.append((f"baron-{args.baron_cells // 1000}k{args.tag}", baron, args.baron_cells))
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
            for name, source, n in jobs:
                row = run_one(name, source, n, args.impute_args, Path(tmp))
                results = [r for r in results if r["name"] != name] + [row]
                args.results.write_text(json.dumps(results, indent=1) + "\n")
    write_report(results, args.png, args.table)
    readme = args.readme or (ROOT / "docs" / "scale.md" if args.results == RESULTS else None)
    if readme is not None:
        from gnnimpute.benchmark.readme import splice

        splice(readme, readme_block(args.table.read_text()), begin=README_BEGIN, end=README_END)
    print(args.table.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

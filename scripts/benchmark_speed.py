#!/usr/bin/env python
"""Wall time and peak memory of `gnnimpute impute` (defaults) and MAGIC on the same file.

Each run is a separate child process; its peak resident memory comes from the kernel's
accounting of that child (os.wait4), so torch's and numpy's native allocations count.

    python scripts/benchmark_speed.py [INPUT.h5ad] [--skip-magic] [--fast] [--seeds 0,1,2]

`--fast` also times `--preset fast` (the shorter stopping rule) in the same run. `--seeds` times
the defaults once per seed: the stopping rule ends a run at a different epoch for each seed, so
one seed is one draw of the wall time.

Before anything is timed, one untimed child imports what both methods import (torch, anndata,
magic), so that reading those libraries from a cold page cache, which only the first process
pays, is not charged to whichever runs first (gnnimpute's first seed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_INPUT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "baron_mouse_pancreas.h5ad"
)

MAGIC_SCRIPT = """
import sys, anndata as ad
from gnnimpute.data.qc import filter_cells_genes
from gnnimpute.benchmark.methods.magic_impute import run
adata, _ = filter_cells_genes(ad.read_h5ad(sys.argv[1]))
out = run(adata, seed=0, k=5)
print(f"MAGIC imputed {out.shape[0]} x {out.shape[1]}", file=sys.stderr)
"""

WARM_UP = """
import contextlib, anndata, gnnimpute.api
with contextlib.suppress(ImportError):
    import magic
"""


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """Run `cmd`; return (wall seconds, peak RSS in GiB, exit status)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024**2, os.waitstatus_to_exitcode(status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", nargs="?", default=str(DEFAULT_INPUT))
    parser.add_argument("--skip-magic", action="store_true")
    parser.add_argument("--fast", action="store_true", help="also time --preset fast")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds for the defaults")
    args = parser.parse_args()
    if not Path(args.input).exists():
        print(f"input not found: {args.input}", file=sys.stderr)
        return 2
    rows = []
    subprocess.run([sys.executable, "-c", WARM_UP], check=False)  # page cache, untimed
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "imputed.h5ad"
        base = [sys.executable, "-m", "gnnimpute.cli", "impute", args.input, str(out), "--force",
                "--layers", "gnnimpute,level,detection"]  # fmt: skip  # as measured
        for seed in args.seeds.split(","):
            gnn = [*base, "--seed", seed]
            rows.append((f"gnnimpute impute (defaults, QC on, seed {seed})", *measure(gnn)))
        if args.fast:
            fast = [*base, "--seed", "0", "--preset", "fast"]
            rows.append(("gnnimpute impute --preset fast (QC on)", *measure(fast)))
        if not args.skip_magic:
            rows.append(
                (
                    "MAGIC (magic-impute, same QC)",
                    *measure([sys.executable, "-c", MAGIC_SCRIPT, args.input]),
                )
            )
    print(f"\ninput: {args.input}, {os.cpu_count()} CPUs\n")
    print("| run | wall (s) | peak memory (GiB) | exit |")
    print("|---|---:|---:|---:|")
    for name, wall, rss, code in rows:
        print(f"| {name} | {wall:.1f} | {rss:.2f} | {code} |")
    return max(code for *_, code in rows)


if __name__ == "__main__":
    sys.exit(main())

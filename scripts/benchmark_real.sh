#!/usr/bin/env bash
# The README's benchmark: real data (Baron, PBMC 4k) at masking rate 0.1, 3 seeds, all methods,
# then the simulated 2- and 6-group Splat data. Takes hours on a laptop CPU; resumable.
set -euo pipefail
DATA=${DATA:-../shared/data}
OUT=${OUT:-results/benchmark}
gnnimpute benchmark "$DATA/baron_mouse_pancreas.h5ad" "$DATA/pbmc4k_top2000.h5ad" \
  --out "$OUT" --label-key cell_type --label-key cluster \
  --rates 0.1 --seeds 0,1,2 --methods all --resume "$@"

#!/usr/bin/env bash
# Mini-batch vs full-batch accuracy on Baron and PBMC 4k, mask seeds 0-2 (issue 9):
# `gnnimpute mask` + `impute --batch-cells 0|N` + `evaluate`, then mean and spread per mode.
#   bash scripts/minibatch_accuracy.sh [OUT_DIR]       (12 default runs: ~20 min idle)
#   OPTION=--loss-cells VALUE=1024 bash scripts/minibatch_accuracy.sh OUT_DIR
#       the same for full batch scoring VALUE random cells per epoch against scoring all
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-minibatch_accuracy}
DATA=${DATA:-../shared/data}
OPTION=${OPTION:---batch-cells}
VALUE=${VALUE:-${BATCH:-512}}
# comparing full-batch variants: keep both sides full batch whatever the free memory
PIN=(); [ "$OPTION" = "--batch-cells" ] || PIN=(--batch-cells 0)
G=".venv/bin/gnnimpute"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
SETS=${SETS:-baron_mouse_pancreas:cell_type pbmc4k_top2000:cluster}  # file stem:label column
for spec in $SETS; do
  name=${spec%%:*}; label=${spec##*:}
  for seed in 0 1 2; do
    $G mask "$DATA/$name.h5ad" "$OUT/$name.m$seed.h5ad" "$OUT/$name.t$seed.h5ad" --seed "$seed" --force
    for batch in 0 "$VALUE"; do
      tag="$OUT/$name.s$seed.b$batch"
      $G impute "$OUT/$name.m$seed.h5ad" "$tag.h5ad" --seed 0 "$OPTION" "$batch" "${PIN[@]}" --force --quiet
      $G evaluate "$tag.h5ad" "$OUT/$name.t$seed.h5ad" --label-key "$label" --json "$tag.json" >/dev/null
      rm -f "$tag.h5ad"
    done
  done
done
.venv/bin/python - "$OUT" "$OPTION" <<'PY'
import json, sys
from pathlib import Path
import numpy as np
rows = {}
for f in sorted(Path(sys.argv[1]).glob("*.json")):
    name, seed, batch = f.stem.split(".")
    m = json.loads(f.read_text())
    flat = {k: v for k, v in m.items() if isinstance(v, (int, float))}
    rows.setdefault((name, batch), []).append(flat)
print(f"| data | {sys.argv[2].lstrip('-').replace('-', ' ')} | n | " + " | ".join(["mse", "pcc", "ari_kmeans"]) + " |")
print("|---|---:|---:|---:|---:|---:|")
for (name, batch), ms in sorted(rows.items()):
    cells = []
    for key in ("mse", "pcc", "ari_kmeans"):
        vals = [m[key] for m in ms if key in m]
        cells.append(f"{np.mean(vals):.4g} ± {np.std(vals, ddof=1):.2g}" if len(vals) > 1 else "-")
    print(f"| {name} | {batch[1:]} | {len(ms)} | " + " | ".join(cells) + " |")
PY

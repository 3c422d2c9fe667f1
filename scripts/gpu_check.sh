#!/usr/bin/env bash
# GPU check, one short run with a time limit (default 540 s, the device tool's 10-minute cap):
#   1. the `gpu`-marked tests;
#   2. Baron (1,886 x 14,878) with defaults on CUDA: wall time, peak host RSS, peak GPU memory;
#   3. 1M cells x 2,000 genes resampled from PBMC 4k on CUDA (mini-batches, streamed output):
#      EPOCHS_1M epochs (default 10) give s/epoch; a full run is ~170 epochs.
# Writes everything to ${OUT:-gpu_check}/ (log + summary.tsv).
#   bash scripts/gpu_check.sh                 # from the repository root, venv in .venv
#   LIMIT=1500 EPOCHS_1M=200 bash scripts/gpu_check.sh   # the full 1M-cell run (~30 min)
set -uo pipefail
cd "$(dirname "$0")/.."
LIMIT=${LIMIT:-540}
EPOCHS_1M=${EPOCHS_1M:-10}
CELLS_1M=${CELLS_1M:-1000000}
DATA=${DATA:-../shared/data}
OUT=${OUT:-gpu_check}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)
left() { echo $((LIMIT - ($(date +%s) - start))); }
log() { echo "[$(($(date +%s) - start)) s] $*" | tee -a "$OUT/log.txt" >&2; }
summary() { printf '%s\n' "$*" >>"$OUT/summary.tsv"; }
printf 'step\twall_s\tpeak_host_gib\tpeak_gpu_gib\texit\n' >"$OUT/summary.tsv"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee -a "$OUT/log.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())" | tee -a "$OUT/log.txt"

# Runs one command under the remaining time; records wall, peak host RSS (GNU time) and the
# peak GPU memory sampled by nvidia-smi every second.
run_step() {
  local name=$1; shift
  local budget; budget=$(left)
  if [ "$budget" -le 10 ]; then log "$name: skipped, time limit reached"; summary "$name	-	-	-	skipped"; return; fi
  log "$name: $* (limit ${budget} s)"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 1000 >"$OUT/$name.gpu" 2>/dev/null &
  local smi=$!
  local t0; t0=$(date +%s.%N)
  # peak RSS of the child from the kernel (no GNU time needed), in KiB
  "$PY" -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[3:])
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(rc)' "$OUT/$name.rss" _ timeout "$budget" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local wall; wall=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $t0}")
  kill "$smi" 2>/dev/null; wait "$smi" 2>/dev/null
  local rss; rss=$(tail -1 "$OUT/$name.rss" | awk '{printf "%.2f", $1 / 1048576}')
  local gpu; gpu=$(sort -n "$OUT/$name.gpu" 2>/dev/null | tail -1 | awk '{printf "%.2f", $1 / 1024}')
  log "$name: exit $rc, wall $wall s, peak host $rss GiB, peak GPU $gpu GiB"
  tail -5 "$OUT/$name.log" | tee -a "$OUT/log.txt"
  summary "$name	$wall	$rss	$gpu	$rc"
}

run_step gpu_tests "$PY" -m pytest -q -m gpu tests -p no:cacheprovider
run_step baron_cuda "$PY" -m gnnimpute.cli impute "$DATA/baron_mouse_pancreas.h5ad" \
  "$OUT/baron.h5ad" --device cuda --seed 0 --force
"$PY" - "$OUT/baron.h5ad" <<'EOF' 2>/dev/null | tee -a "$OUT/log.txt"
import sys, h5py
with h5py.File(sys.argv[1]) as f:
    u = f["uns/gnnimpute"]
    print("baron: epochs", int(u["epochs_run"][()]), "train s", round(float(u["train_seconds"][()]), 1))
EOF
rm -f "$OUT/baron.h5ad"
if [ "$(left)" -gt 120 ]; then
  log "making ${CELLS_1M} x 2000 cells (PBMC-resampled)"
  "$PY" -c "
import sys; sys.path.insert(0, 'scripts')
from pathlib import Path
from benchmark_scale import make_input
print(make_input(Path('$DATA/pbmc4k_top2000.h5ad'), $CELLS_1M, Path('$OUT/big.h5ad')))
" 2>&1 | tail -1 | tee -a "$OUT/log.txt"
  run_step big_cuda "$PY" -m gnnimpute.cli impute "$OUT/big.h5ad" "$OUT/big.imputed.h5ad" \
    --device cuda --no-qc --seed 0 --force --epochs "$EPOCHS_1M" --out-chunked
  grep -E "^stage|epoch" "$OUT/big_cuda.log" | tail -12 | tee -a "$OUT/log.txt"
  rm -f "$OUT/big.h5ad" "$OUT/big.imputed.h5ad"
fi
log "done"
cat "$OUT/summary.tsv"

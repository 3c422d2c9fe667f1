#!/usr/bin/env bash
# Thin wrapper used by the GNNIMPUTE_SIMULATE Nextflow process: runs
# `gnnimpute simulate` with the arguments it is given (see `gnnimpute simulate --help`).
set -euo pipefail
if ! command -v gnnimpute >/dev/null 2>&1; then
    echo "gnnimpute_simulate.sh: the 'gnnimpute' command is not on PATH (use -profile docker/singularity/conda, or install the package)" >&2
    exit 127
fi
exec gnnimpute simulate "$@"

#!/usr/bin/env bash
# Thin wrapper used by the GNNIMPUTE_EVALUATE Nextflow process: runs
# `gnnimpute evaluate` with the arguments it is given (see `gnnimpute evaluate --help`).
set -euo pipefail
if ! command -v gnnimpute >/dev/null 2>&1; then
    echo "gnnimpute_evaluate.sh: the 'gnnimpute' command is not on PATH (use -profile docker/singularity/conda, or install the package)" >&2
    exit 127
fi
exec gnnimpute evaluate "$@"

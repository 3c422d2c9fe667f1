#!/usr/bin/env bash
# Thin wrapper used by the GNNIMPUTE_MASK Nextflow process: runs
# `gnnimpute mask` with the arguments it is given (see `gnnimpute mask --help`).
set -euo pipefail
if ! command -v gnnimpute >/dev/null 2>&1; then
    echo "gnnimpute_mask.sh: the 'gnnimpute' command is not on PATH (use -profile docker/singularity/conda, or install the package)" >&2
    exit 127
fi
exec gnnimpute mask "$@"

#!/usr/bin/env bash
# Thin wrapper used by the GNNIMPUTE_IMPUTE Nextflow process: runs
# `gnnimpute impute [OPTIONS] INPUT OUTPUT` (see `gnnimpute impute --help`).
# `--threads N` also caps the BLAS/OpenMP pools, so that a task does not use
# more cores than Nextflow gave it.
set -euo pipefail
if ! command -v gnnimpute >/dev/null 2>&1; then
    echo "gnnimpute_impute.sh: the 'gnnimpute' command is not on PATH (use -profile docker/singularity/conda, or install the package)" >&2
    exit 127
fi
args=("$@")
for ((i = 0; i < ${#args[@]} - 1; i++)); do
    if [[ "${args[i]}" == --threads ]]; then
        n="${args[i + 1]}"
        export OMP_NUM_THREADS="$n" MKL_NUM_THREADS="$n" OPENBLAS_NUM_THREADS="$n" NUMBA_NUM_THREADS="$n"
    fi
done
exec gnnimpute impute "$@"

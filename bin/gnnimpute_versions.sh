#!/usr/bin/env bash
# Prints a nf-core style versions.yml for one process:
#   "<task.process>":
#       gnnimpute: 0.1.0
#       python: 3.11.2
#       torch: 2.5.1
#       torch_geometric: 2.6.1
#       anndata: 0.11.3
# Usage: gnnimpute_versions.sh [--stub] PROCESS_NAME
# With --stub it does not start the CLI (versions come from package metadata,
# or read "stub" when the package is not installed).
set -euo pipefail
stub=0
if [[ "${1:-}" == --stub ]]; then stub=1; shift; fi
process="${1:?usage: gnnimpute_versions.sh [--stub] PROCESS_NAME}"

py="$(command -v python3 || command -v python || true)"
meta_version() {
    # version of an installed distribution, without importing it
    [[ -n "$py" ]] || { echo stub; return; }
    "$py" - "$1" <<'PY' 2>/dev/null || echo stub
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    print(version(sys.argv[1]))
except PackageNotFoundError:
    print("stub")
PY
}

if [[ $stub -eq 0 ]]; then
    gv="$(gnnimpute --version | tail -n 1 | tr -d '[:space:]')"
else
    gv="$(meta_version gnnimpute)"
fi
pv="stub"
[[ -n "$py" ]] && pv="$("$py" -c 'import platform; print(platform.python_version())')"

cat <<YML
"${process}":
    gnnimpute: ${gv}
    python: ${pv}
    torch: $(meta_version torch)
    torch_geometric: $(meta_version torch_geometric)
    anndata: $(meta_version anndata)
YML

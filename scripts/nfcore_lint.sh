#!/usr/bin/env bash
# Runs `nf-core modules lint` offline on modules/local/gnnimpute/<name> placed in an
# nf-core/modules-style tree (a temporary git repository that also serves as the
# "remote" modules repository, so nf-core tools clones nothing from the network).
#
#   scripts/nfcore_lint.sh [MODULE ...]        default: impute simulate mask evaluate
#
# NFCORE: the nf-core executable (default: .venv-nfcore/bin/nf-core, else nf-core on PATH;
# `make nfcore-venv` creates .venv-nfcore). Extra lint options: NFCORE_LINT_ARGS.
# Exit status: that of the last failing lint, 0 when every module passes.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
NFCORE="${NFCORE:-}"
if [[ -z "$NFCORE" ]]; then
    if [[ -x "$root/.venv-nfcore/bin/nf-core" ]]; then NFCORE="$root/.venv-nfcore/bin/nf-core"
    elif command -v nf-core >/dev/null 2>&1; then NFCORE="$(command -v nf-core)"
    else echo "nfcore_lint.sh: nf-core not found (run: make nfcore-venv)" >&2; exit 127; fi
fi
modules=("$@")
[[ ${#modules[@]} -gt 0 ]] || modules=(impute simulate mask evaluate)

tree="$(mktemp -d "${TMPDIR:-/tmp}/gnnimpute_nfcore_lint_XXXXXX")"
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/modules/nf-core/gnnimpute" "$tree/tests/config" "$tree/home"
cp "$root/tests/nfcore/meta-schema.json" "$root/tests/nfcore/environment-schema.json" "$tree/modules/"
for m in "${modules[@]}"; do
    cp -r "$root/modules/local/gnnimpute/$m" "$tree/modules/nf-core/gnnimpute/$m"
done
cat > "$tree/.nf-core.yml" <<'YML'
repository_type: modules
org_path: nf-core
container-registry:
  - ghcr.io/gnnimpute
YML
printf 'params.modules_testdata_base_path = "%s/tests/data/"\n' "$tree" > "$tree/tests/config/nf-test.config"
touch "$tree/tests/config/nextflow.config"
git -C "$tree" init -q -b master
git -C "$tree" -c user.name=lint -c user.email=lint@localhost add -A
git -C "$tree" -c user.name=lint -c user.email=lint@localhost commit -q -m tree

export HOME="$tree/home" XDG_CONFIG_HOME="$tree/home/.config" XDG_CACHE_HOME="$tree/home/.cache"
export PATH="$root/scripts:$PATH" NXF_JARS_CACHE="${NXF_JARS_CACHE:-$root/.cache/nextflow}" NXF_HOME="$tree/home/.nextflow"
export NXF_OFFLINE=true NFCORE_NO_VERSION_CHECK=1 HIDE_PROGRESS=1
rc=0
for m in "${modules[@]}"; do
    echo "== nf-core modules lint gnnimpute/$m" >&2
    (cd "$(dirname "$tree")" && "$NFCORE" modules --git-remote "$(basename "$tree")" --branch master \
        lint "gnnimpute/$m" --dir "$tree" ${NFCORE_LINT_ARGS:-}) || rc=$?
done
exit $rc

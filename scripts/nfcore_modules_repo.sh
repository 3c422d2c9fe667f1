#!/usr/bin/env bash
# Makes DIR a git repository with the files of nf-core/modules that `nf-core modules lint`,
# `nf-core subworkflows lint` and `nf-core pipelines lint` read from their clone of it: its
# .nf-core.yml (repository type and org) and the module, environment and subworkflow
# schemas, pinned copies from tests/nfcore/ (their commit is in tests/nfcore/README.md).
# Handed to nf-core tools as that clone, it lets them lint with no network.
#
#   scripts/nfcore_modules_repo.sh DIR
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: nfcore_modules_repo.sh DIR}"
mkdir -p "$dir/modules/nf-core" "$dir/subworkflows/nf-core"
cp "$root/tests/nfcore/meta-schema.json" "$root/tests/nfcore/environment-schema.json" "$dir/modules/"
cp "$root/tests/nfcore/subworkflows-yaml-schema.json" "$dir/subworkflows/yaml-schema.json"
cp "$root/tests/nfcore/modules-nf-core.yml" "$dir/.nf-core.yml"
touch "$dir/modules/nf-core/.gitkeep" "$dir/subworkflows/nf-core/.gitkeep"
git -C "$dir" init -q -b master
git -C "$dir" -c user.name=lint -c user.email=lint@localhost add -A
git -C "$dir" -c user.name=lint -c user.email=lint@localhost commit -q -m "nf-core/modules schemas (tests/nfcore)"

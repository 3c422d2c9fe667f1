#!/usr/bin/env bash
# Offline install of the nf-schema plugin that the pipeline pins (nextflow.config:
# plugins { id 'nf-schema@2.4.2' }).
#
# Connected machines need nothing: Nextflow downloads the plugin on the first run.
# Where the plugin registry cannot be reached, this script unpacks a release zip of
# the same version into <repo>/.cache/nextflow/plugins (scripts/nextflow copies it
# into $NXF_HOME/plugins of every run) and into $NXF_HOME/plugins (~/.nextflow).
#
# Usage: bash scripts/install_nf_schema.sh
# Env:   NF_SCHEMA_ZIP    the release zip (default: ../shared/tools/nf-schema/nf-schema-<ver>.zip
#                         beside the repository, checked against its .sha256 file)
#        NXF_JARS_CACHE   cache root (default: <repo>/.cache/nextflow)
#        NXF_HOME         Nextflow's home (default: ~/.nextflow)
# Idempotent and quiet when the plugin is already there. Without a zip it says so and
# exits 0: Nextflow then fetches the plugin itself when it can.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ver="2.4.2"
name="nf-schema-$ver"
cache="${NXF_JARS_CACHE:-$repo/.cache/nextflow}/plugins"
home="${NXF_HOME:-$HOME/.nextflow}/plugins"
zip="${NF_SCHEMA_ZIP:-$repo/../shared/tools/nf-schema/$name.zip}"

log() { echo "[install_nf_schema] $*" >&2; }
installed() { [[ -f "$1/$name/classes/META-INF/MANIFEST.MF" ]]; }

if installed "$cache" && installed "$home"; then
  exit 0
fi
if ! installed "$cache"; then
  if [[ ! -f "$zip" ]]; then
    log "no $name.zip at $zip: Nextflow downloads the plugin on the first run (needs the plugin registry)"
    exit 0
  fi
  if [[ -f "$zip.sha256" ]]; then
    want="$(awk '{print $1}' "$zip.sha256")"
    got="$(sha256sum "$zip" | awk '{print $1}')"
    if [[ "$want" != "$got" ]]; then
      log "ERROR: $zip does not match its checksum ($got, expected $want)"
      exit 1
    fi
  fi
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/nf-schema.XXXXXX")"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$zip" "$tmp/$name"
  mkdir -p "$cache"
  rm -rf "${cache:?}/$name"
  mv "$tmp/$name" "$cache/$name"
  rm -rf "$tmp"
  log "installed $name into $cache"
fi
if ! installed "$home"; then
  mkdir -p "$home"
  rm -rf "${home:?}/$name"
  cp -r "$cache/$name" "$home/$name"
fi

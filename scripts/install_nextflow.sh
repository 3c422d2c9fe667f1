#!/usr/bin/env bash
# Offline-friendly Nextflow installer.
#
# Nextflow's usual installer (`curl -s https://get.nextflow.io | bash`) downloads
# the launcher and a fat jar from GitHub. Where only package registries are
# reachable, this script resolves the `io.nextflow:nextflow` artifact and its
# runtime dependencies from Maven Central with Maven, and copies the jars into a
# cache folder. `scripts/nextflow` then starts `nextflow.cli.Launcher` from it.
#
# Usage:  bash scripts/install_nextflow.sh            # installs $NXF_VER (default below)
#         NXF_VER=25.04.4 bash scripts/install_nextflow.sh
# Env:    NXF_VER            version to install (default 24.10.0)
#         NXF_VER_FALLBACKS  versions tried when $NXF_VER does not resolve
#         NXF_JARS_CACHE     cache root (default: <repo>/.cache/nextflow)
#         NXF_INSTALL_FORCE  set to 1 to reinstall even if the cache is complete
#
# Also installs the nf-schema plugin offline (scripts/install_nf_schema.sh).
# Idempotent: when the cache already holds a complete install the script exits
# in well under a second. It prints the install folder as its last line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
cache_root="${NXF_JARS_CACHE:-$repo/.cache/nextflow}"
want="${NXF_VER:-24.10.0}"
# Of the 24.10.x and 25.04.x releases on Maven Central only 24.10.0 resolves
# completely: later ones depend on nf-httpfs/nf-lang versions that were not
# published there. So 24.10.0 is the default and the fallback.
fallbacks="${NXF_VER_FALLBACKS:-24.10.0}"

log() { echo "[install_nextflow] $*" >&2; }

is_complete() { [[ -f "$cache_root/$1/.complete" && -f "$cache_root/$1/lib/nextflow-$1.jar" ]]; }

if [[ "${NXF_INSTALL_FORCE:-0}" != 1 ]]; then
  if is_complete "$want"; then
    echo "$want" > "$cache_root/default-version"
    NXF_JARS_CACHE="$cache_root" bash "$here/install_nf_schema.sh"
    echo "$cache_root/$want"
    exit 0
  fi
  # no explicit version asked for and an earlier run fell back to another one
  if [[ -z "${NXF_VER:-}" && -f "$cache_root/default-version" ]]; then
    prev="$(cat "$cache_root/default-version")"
    if is_complete "$prev"; then
      NXF_JARS_CACHE="$cache_root" bash "$here/install_nf_schema.sh"
      echo "$cache_root/$prev"; exit 0
    fi
  fi
fi

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn  >/dev/null 2>&1 || need_apt+=(maven)
if (( ${#need_apt[@]} )); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${need_apt[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
  else
    log "ERROR: missing ${need_apt[*]}; install Java 17+ and Maven 3.8+ first"
    exit 1
  fi
fi

install_version() {
  local ver="$1" dest="$cache_root/$1" tmp
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/nxf-install.XXXXXX")"
  cat > "$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.gnnimpute</groupId>
  <artifactId>nextflow-offline</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>io.nextflow</groupId>
      <artifactId>nextflow</artifactId>
      <version>${ver}</version>
    </dependency>
  </dependencies>
</project>
POM
  log "resolving io.nextflow:nextflow:${ver} from Maven Central"
  if ! mvn -B -q -f "$tmp/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >"$tmp/mvn.log" 2>&1; then
    log "io.nextflow:nextflow:${ver} did not resolve:"
    grep -m 1 'Failed to execute' "$tmp/mvn.log" >&2 || tail -n 5 "$tmp/mvn.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  mv "$tmp/lib" "$dest/lib"
  rm -rf "$tmp"
  echo "$ver" > "$dest/.complete"
  log "installed Nextflow ${ver} ($(ls "$dest/lib" | wc -l) jars) into $dest"
}

for ver in "$want" $fallbacks; do
  if is_complete "$ver" && [[ "${NXF_INSTALL_FORCE:-0}" != 1 ]]; then
    installed="$ver"; break
  fi
  if install_version "$ver"; then installed="$ver"; break; fi
done

if [[ -z "${installed:-}" ]]; then
  log "ERROR: no Nextflow version resolved (tried: $want $fallbacks)"
  exit 1
fi
# remember which version the launcher should use when $NXF_VER is not set
echo "$installed" > "$cache_root/default-version"
# the pipeline's nf-schema plugin, offline (a no-op when present or when no zip is at hand)
NXF_JARS_CACHE="$cache_root" bash "$here/install_nf_schema.sh"
echo "$cache_root/$installed"

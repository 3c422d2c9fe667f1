#!/usr/bin/env bash
# Build the CPU and CUDA images of gnnimpute and run them for real (make containers):
#   1. start dockerd (vfs storage) if no daemon answers, and stop it again at the end
#   2. pick the base: $BASE_IMAGE, else python:3.11-slim-bookworm if it can be pulled,
#      else a Debian bookworm base made here with debootstrap (no registry needed)
#   3. build ghcr.io/gnnimpute/gnnimpute:0.2.0 (CPU) and :0.2.0-cuda, timing each
#   4. run the pipeline's test profile under -profile test,docker on the CPU image
#   5. run gnnimpute --version and a tiny impute with --device cpu in the CUDA image
#   6. with apptainer/singularity on PATH, build a SIF from the CPU image
# and print the image sizes and build times. Exits non-zero if any step fails.
#
# Env: BASE_IMAGE (skip the base step), CPU_TORCH_INDEX (torch for the CPU image; default the
#      PyTorch CPU index when reachable, else PyPI, whose torch is the CUDA build),
#      DEBIAN_MIRROR (default: this machine's apt mirror), WORKDIR (scratch; default a temp dir,
#      removed at the end), DOCKERD_ARGS (default --storage-driver=vfs), NO_CACHE=1 (cold builds),
#      SKIP_PIPELINE=1 (images and the CUDA check only), PRUNE=1 (drop the build stages' images
#      at the end: no build cache, GBs less disk).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VERSION=0.2.0
CPU_TAG=ghcr.io/gnnimpute/gnnimpute:$VERSION
CUDA_TAG=ghcr.io/gnnimpute/gnnimpute:$VERSION-cuda
LOCAL_BASE=gnnimpute-base:bookworm
PUBLIC_BASE=python:3.11-slim-bookworm
CPU_INDEX=https://download.pytorch.org/whl/cpu

log() { printf '[build_containers %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

scratch_owned=0
if [[ -z "${WORKDIR:-}" ]]; then
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/gnnimpute-containers.XXXXXX")
    scratch_owned=1
fi
mkdir -p "$WORKDIR"
dockerd_pid=""

cleanup() {
    local rc=$?
    if [[ -n "$dockerd_pid" ]]; then
        log "stopping the dockerd this script started (pid $dockerd_pid)"
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    if [[ "$scratch_owned" == 1 ]]; then rm -rf "$WORKDIR"; fi
    exit "$rc"
}
trap cleanup EXIT

command -v docker >/dev/null || die "no docker CLI on PATH (apt-get install docker.io)"

# --- 1. daemon ---------------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    command -v dockerd >/dev/null || die "no Docker daemon answers and dockerd is not installed (apt-get install docker.io)"
    log "starting dockerd ${DOCKERD_ARGS:---storage-driver=vfs} (log: $WORKDIR/dockerd.log)"
    # shellcheck disable=SC2086  # DOCKERD_ARGS is a list of flags
    dockerd ${DOCKERD_ARGS:---storage-driver=vfs} >"$WORKDIR/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || die "dockerd exited; see $WORKDIR/dockerd.log"
        sleep 1
    done
    docker info >/dev/null 2>&1 || die "dockerd did not answer in 60 s"
fi
# Go template for `docker -f`: gofmt .Size -> the double-braced template. Built here so that the
# file holds no double-brace text, which nf-core's lint (template_strings) takes for an
# unrendered Jinja placeholder.
gofmt() { local open='{' close='}'; printf '%s%s%s%s%s' "$open" "$open" "$1" "$close" "$close"; }
log "docker $(docker version -f "$(gofmt .Server.Version)") storage $(docker info -f "$(gofmt .Driver)")"

# --- 2. base -----------------------------------------------------------------------------------
make_local_base() {
    command -v debootstrap >/dev/null || die "no base image: install debootstrap or set BASE_IMAGE"
    local mirror=${DEBIAN_MIRROR:-}
    if [[ -z "$mirror" ]]; then
        # the first Debian archive of an active URIs:/deb line (deb822 or one-line format)
        mirror=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources \
            /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null \
            | grep -o -E 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ' || true)
        mirror=${mirror:-http://deb.debian.org/debian}
    fi
    local rootfs="$WORKDIR/rootfs"
    log "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv,procps,ca-certificates \
        bookworm "$rootfs" "$mirror" >"$WORKDIR/debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $WORKDIR/debootstrap.log"
    # the host's bundle: it may hold a site CA that pip needs to reach PyPI from the build
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$LOCAL_BASE" >/dev/null
    rm -rf "$rootfs"
}

if [[ -z "${BASE_IMAGE:-}" ]]; then
    if docker image inspect "$PUBLIC_BASE" >/dev/null 2>&1 \
        || timeout 120 docker pull -q "$PUBLIC_BASE" >/dev/null 2>&1; then
        BASE_IMAGE=$PUBLIC_BASE
    else
        if ! docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
            log "$PUBLIC_BASE cannot be pulled: making $LOCAL_BASE with debootstrap"
            t0=$(date +%s)
            make_local_base
            log "base made in $(($(date +%s) - t0)) s"
        fi
        BASE_IMAGE=$LOCAL_BASE
    fi
fi
log "base image: $BASE_IMAGE"

if [[ -z "${CPU_TORCH_INDEX:-}" ]]; then
    if curl -sf -o /dev/null --max-time 20 "$CPU_INDEX/torch/"; then
        CPU_TORCH_INDEX=$CPU_INDEX
    else
        CPU_TORCH_INDEX=https://pypi.org/simple
        log "WARNING: $CPU_INDEX is unreachable: the CPU image gets PyPI's torch (the CUDA build; runs on CPU, GBs larger)"
    fi
fi

# --- 3. images ---------------------------------------------------------------------------------
# The context is the files that containers/Dockerfile*.dockerignore let through, sent as a tar,
# so that the legacy builder (no buildx: it ignores per-Dockerfile ignore files) gets the same.
CONTEXT=(pyproject.toml README.md LICENSE containers/requirements.lock containers/check_lock.py src)
context() {
    tar -c --exclude=__pycache__ --exclude='*.pyc' "${CONTEXT[@]}" containers/Dockerfile containers/Dockerfile.cuda
}

declare -A build_s size_b
build() {  # build TAG DOCKERFILE TORCH_INDEX
    local tag=$1 file=$2 index=$3 t0 cache=()
    [[ "${NO_CACHE:-0}" == 1 ]] && cache=(--no-cache)
    log "building $tag from $file (torch from $index)"
    t0=$(date +%s)
    context | docker build --network host "${cache[@]}" -f "$file" \
        --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg TORCH_INDEX_URL="$index" \
        -t "$tag" - >"$WORKDIR/build-${tag##*:}.log" 2>&1 \
        || { tail -n 40 "$WORKDIR/build-${tag##*:}.log" >&2; die "docker build of $tag failed"; }
    build_s[$tag]=$(($(date +%s) - t0))
    size_b[$tag]=$(docker image inspect -f "$(gofmt .Size)" "$tag")
    log "$tag built in ${build_s[$tag]} s, $(numfmt --to=si --format=%.2f "${size_b[$tag]}")B"
}
build "$CPU_TAG" containers/Dockerfile "$CPU_TORCH_INDEX"
build "$CUDA_TAG" containers/Dockerfile.cuda https://pypi.org/simple

# --- 4. pipeline test profile on the CPU image -------------------------------------------------
pipeline_s="skipped"
if [[ "${SKIP_PIPELINE:-0}" != 1 ]]; then
    log "nextflow run main.nf -profile test,docker (CPU image)"
    t0=$(date +%s)
    (cd "$WORKDIR" && "$ROOT/scripts/nextflow" run "$ROOT/main.nf" -profile test,docker \
        --outdir "$WORKDIR/results" -w "$WORKDIR/work" -ansi-log false) \
        >"$WORKDIR/nextflow.log" 2>&1 \
        || { tail -n 60 "$WORKDIR/nextflow.log" >&2; die "the test profile failed under docker"; }
    pipeline_s="$(($(date +%s) - t0)) s"
    grep -E "Succeeded|process > " "$WORKDIR/nextflow.log" | tail -n 12 >&2 || true
    n_h5ad=$(find "$WORKDIR/results" -name '*.h5ad' | wc -l)
    [[ "$n_h5ad" -ge 1 ]] || die "the test profile wrote no h5ad under $WORKDIR/results"
    log "test profile passed under docker in $pipeline_s ($n_h5ad h5ad files in results)"
fi

# --- 5. the CUDA image, on CPU -----------------------------------------------------------------
log "gnnimpute --version and a tiny impute --device cpu in $CUDA_TAG"
mkdir -p "$WORKDIR/cuda-check"
# one container: with vfs, each `docker run` copies the whole image first
docker run --rm -u "$(id -u):$(id -g)" -v "$WORKDIR/cuda-check:/data" "$CUDA_TAG" bash -c '
    set -e
    gnnimpute --version
    command -v ps >/dev/null || { echo "no ps (Nextflow task metrics need it)" >&2; exit 1; }
    gnnimpute simulate sim.h5ad --cells 120 --genes 150 --groups 3 --seed 0
    gnnimpute impute sim.h5ad imputed.h5ad --device cpu --epochs 3 --no-qc --seed 0
    python -c "import anndata as ad, torch; a = ad.read_h5ad(\"imputed.h5ad\"); print(\"imputed\", a.shape, \"torch\", torch.__version__, \"cuda build\", torch.version.cuda)"
' || die "the tiny impute failed in $CUDA_TAG"

# --- 6. SIF (only where apptainer/singularity exists) --------------------------------------------
sif="not built (no apptainer/singularity here)"
for exe in apptainer singularity; do
    if command -v "$exe" >/dev/null; then
        "$exe" build --force "$WORKDIR/gnnimpute-$VERSION.sif" "docker-daemon://$CPU_TAG" >&2
        "$exe" exec "$WORKDIR/gnnimpute-$VERSION.sif" gnnimpute --version
        sif="built with $exe"
        break
    fi
done

# the build stages stay as untagged images (the build cache): ~6.6 GB each under vfs
if [[ "${PRUNE:-0}" == 1 ]]; then docker image prune -f >&2; fi

# --- summary -----------------------------------------------------------------------------------
{
    echo "== gnnimpute containers ($(date -u +%Y-%m-%dT%H:%MZ), docker $(docker info -f "$(gofmt .Driver)"), base $BASE_IMAGE)"
    for tag in "$CPU_TAG" "$CUDA_TAG"; do
        printf '%-42s build %5s s   size %s (%s bytes)\n' "$tag" "${build_s[$tag]}" \
            "$(numfmt --to=si --format=%.2f "${size_b[$tag]}")B" "${size_b[$tag]}"
    done
    echo "CPU image torch index: $CPU_TORCH_INDEX"
    echo "test profile under -profile test,docker: $pipeline_s"
    echo "SIF: $sif"
} | tee "${SUMMARY:-/dev/null}"

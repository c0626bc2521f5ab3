#!/usr/bin/env bash
# Makes the local base image riadex-sandbox-base:bookworm when no registry image can be pulled:
# debootstrap (minbase + python3, venv, pip, CA certificates) from the mirror apt already uses, this
# machine's extra CA certificates trusted inside (outbound HTTPS is re-signed by a proxy here), then
# `podman import`. About a minute on a fresh machine; a no-op when the image exists (--force rebuilds).
#
#   sandbox-image/build-base.sh [--force]
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
PODMAN="$HERE/podman-service.sh podman"
IMAGE="${RIADEX_SANDBOX_BASE:-riadex-sandbox-base:bookworm}"
STATE="${RIADEX_PODMAN_DIR:-/var/tmp/riadex-podman}"

if [[ "${1:-}" != "--force" ]] && $PODMAN image exists "$IMAGE"; then
    echo "$IMAGE already built"
    exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "debootstrap is not installed (apt-get install debootstrap; or make system-deps)" >&2
    exit 3
fi

MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$STATE/rootfs.$$"
mkdir -p "$STATE"
trap 'rm -rf "$ROOTFS"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" >"$STATE/debootstrap.log" 2>&1 ||
    { tail -20 "$STATE/debootstrap.log" >&2; exit 1; }

shopt -s nullglob
certs=(/usr/local/share/ca-certificates/*.crt)
if ((${#certs[@]})); then
    mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
    cp "${certs[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
fi
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

tar -C "$ROOTFS" -c . | $PODMAN import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "built $IMAGE"

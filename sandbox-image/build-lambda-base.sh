#!/usr/bin/env bash
# Makes a stand-in for Lambda's Python base image, public.ecr.aws/lambda/python:3.13-x86_64, in the private
# podman store, so `sam local` runs the built functions where neither ECR nor Docker Hub can be reached.
# sam builds its own images on top by name (the -rapid- one adds the Runtime Interface Emulator it ships;
# samcli/lambda-python:* add the layers at /opt), so the name is what matters.
#
# Debian trixie minbase (its python3 is 3.13, the runtime's), awslambdaric and boto3 at /var/runtime
# (manylinux wheels fetched on the host: the build needs no network inside), /var/runtime/bootstrap and
# /lambda-entrypoint.sh as in the real image. About 40 s; a no-op when the image exists (--force rebuilds
# it and removes sam's images derived from the old one, which sam would otherwise keep using).
#
#   sandbox-image/build-lambda-base.sh [--force]
# Environment: RUNTIME_PYTHON (the host's Python 3.13, for pip; make build finds it), BOTO3_VERSION.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
PODMAN="$HERE/podman-service.sh podman"
VERSION=3.13
IMAGE="public.ecr.aws/lambda/python:$VERSION-x86_64"
STATE="${RIADEX_PODMAN_DIR:-/var/tmp/riadex-podman}"
AWSLAMBDARIC_VERSION="${AWSLAMBDARIC_VERSION:-4.2.2}"
BOTO3_VERSION="${BOTO3_VERSION:-$(sed -n 's/^boto3==//p' "$ROOT/requirements.txt")}"

if [[ "${1:-}" != "--force" ]] && $PODMAN image exists "$IMAGE"; then
    echo "$IMAGE already built"
    exit 0
fi
for cmd in debootstrap podman; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "$cmd is not installed (make system-deps)" >&2; exit 3; }
done
PY="${RUNTIME_PYTHON:-$ROOT/.tools/runtime-bin/python$VERSION}"
[[ -x "$PY" ]] || PY="$(command -v "python$VERSION" || true)"
[[ -n "$PY" ]] || { echo "Python $VERSION not found: run make runtime-python or set RUNTIME_PYTHON" >&2; exit 3; }

MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$STATE/lambda-rootfs.$$"
mkdir -p "$STATE"
trap 'rm -rf "$ROOTFS"' EXIT

debootstrap --variant=minbase --include=python3,ca-certificates trixie "$ROOTFS" "$MIRROR" \
    >"$STATE/lambda-debootstrap.log" 2>&1 || { tail -20 "$STATE/lambda-debootstrap.log" >&2; exit 1; }
shopt -s nullglob
certs=(/usr/local/share/ca-certificates/*.crt)
if ((${#certs[@]})); then
    mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
    cp "${certs[@]}" "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates >/dev/null 2>&1
fi
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

# The runtime's own packages, where Lambda keeps them (last on sys.path, after the layers).
"$PY" -m pip install -q --disable-pip-version-check --only-binary=:all: --implementation cp \
    --python-version "$VERSION" --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --target "$ROOTFS/var/runtime" "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION"
chroot "$ROOTFS" python3 -m compileall -q /var/runtime >/dev/null
mkdir -p "$ROOTFS/var/task" "$ROOTFS/opt"

cat >"$ROOTFS/var/runtime/bootstrap" <<'BOOT'
#!/bin/bash
# What the python3.13 runtime's bootstrap does: its environment, then the runtime interface client.
export AWS_EXECUTION_ENV=AWS_Lambda_python3.13
export PYTHONPATH="/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime${PYTHONPATH:+:$PYTHONPATH}"
cd "${LAMBDA_TASK_ROOT:-/var/task}"
exec ${AWS_LAMBDA_EXEC_WRAPPER:+"$AWS_LAMBDA_EXEC_WRAPPER"} /usr/bin/python3 -m awslambdaric "$_HANDLER"
BOOT
cat >"$ROOTFS/lambda-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# As in the real image: the handler comes as the first argument (or _HANDLER); without the runtime API
# (outside Lambda and sam) the emulator serves it.
if [ $# -ne 1 ] && [ -z "${_HANDLER:-}" ]; then
    echo "entrypoint requires the handler name to be the first argument" >&2
    exit 142
fi
export _HANDLER="${_HANDLER:-$1}"
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ] && [ -x /usr/local/bin/aws-lambda-rie ]; then
    exec /usr/local/bin/aws-lambda-rie /var/runtime/bootstrap
fi
exec /var/runtime/bootstrap
ENTRY
chmod 755 "$ROOTFS/var/runtime/bootstrap" "$ROOTFS/lambda-entrypoint.sh"

tar -C "$ROOTFS" -c . | $PODMAN import \
    --change 'ENV LANG=en_US.UTF-8 TZ=:/etc/localtime PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'WORKDIR /var/task' \
    --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
    - "$IMAGE" >/dev/null
# sam's images built on the previous base: it reuses them by name unless they are gone.
for stale in $($PODMAN images --format '{{.Repository}}:{{.Tag}}' |
    grep -E "^((docker\.io|localhost)/)?(public\.ecr\.aws/lambda/python:$VERSION-rapid-x86_64|samcli/lambda-python:$VERSION-x86_64-)" ||
    true); do
    $PODMAN rmi -f "$stale" >/dev/null 2>&1 || true
done
echo "built $IMAGE"

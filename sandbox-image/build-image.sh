#!/usr/bin/env bash
# Builds the sandbox image with the private podman (podman-service.sh) on the local base
# (build-base.sh, made first when missing). Skips the build when the tag already carries the hash of
# the Dockerfile, requirements, server sources and build args (label riadex.source-hash).
#
#   sandbox-image/build-image.sh [--browser] [--tag NAME]     default: WITH_BROWSER=0, riadex-sandbox:dev
#
# Prints the tag on its last line. The docker backend's tests then use DOCKER_HOST from
# `podman-service.sh env` and this tag.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
PODMAN="$HERE/podman-service.sh podman"
BASE="${RIADEX_SANDBOX_BASE:-riadex-sandbox-base:bookworm}"
TAG="riadex-sandbox:dev"
WITH_BROWSER=0
while (($#)); do
    case "$1" in
    --browser) WITH_BROWSER=1 ;;
    --tag) TAG="$2"; shift ;;
    *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
    shift
done

"$HERE/build-base.sh" >&2

HASH=$(
    cd "$HERE"
    {
        echo "base=$BASE with_browser=$WITH_BROWSER"
        $PODMAN image inspect --format '{{.Id}}' "$BASE"
        find Dockerfile entry.sh requirements.txt requirements-browser.txt sandbox_server -type f \
            ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -c1-16
)
CURRENT=$($PODMAN image inspect --format '{{index .Labels "riadex.source-hash"}}' "$TAG" 2>/dev/null || true)
if [[ "$CURRENT" == "$HASH" ]]; then
    echo "$TAG is up to date ($HASH)" >&2
    echo "$TAG"
    exit 0
fi

STATE="${RIADEX_PODMAN_DIR:-/var/tmp/riadex-podman}"
# Host networking reaches the package registries from inside the build; docker format keeps HEALTHCHECK.
if ! $PODMAN build --network host --format docker \
    --build-arg "BASE_IMAGE=$BASE" --build-arg "WITH_BROWSER=$WITH_BROWSER" \
    --label "riadex.source-hash=$HASH" -t "$TAG" -f "$HERE/Dockerfile" "$HERE" >"$STATE/build.log" 2>&1; then
    tail -30 "$STATE/build.log" >&2
    exit 1
fi
echo "built $TAG ($HASH)" >&2
echo "$TAG"

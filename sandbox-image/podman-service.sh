#!/usr/bin/env bash
# A private podman (Debian's 4.x) serving the Docker API on a unix socket, with every piece of state under
# one directory that is reused across runs (so the base and built images stay cached).
#
#   sandbox-image/podman-service.sh start    start the API service (no-op when it already answers)
#   sandbox-image/podman-service.sh stop     remove every container in this private store, stop the service
#   sandbox-image/podman-service.sh env      print DOCKER_HOST=... and CONTAINERS_CONF=... (eval-able)
#   sandbox-image/podman-service.sh status   exit 0 when the service answers /_ping
#   sandbox-image/podman-service.sh podman ARGS...   run podman on the private store (used by the build scripts)
#
# RIADEX_PODMAN_DIR (default /var/tmp/riadex-podman) holds storage/, run/, tmp/, containers.conf, the
# socket and the service log.
set -euo pipefail

STATE="${RIADEX_PODMAN_DIR:-/var/tmp/riadex-podman}"
SOCK="$STATE/podman.sock"
CONF="$STATE/containers.conf"
PIDFILE="$STATE/service.pid"

need() {
    if ! command -v podman >/dev/null 2>&1; then
        echo "podman is not installed (apt-get install podman runc slirp4netns uidmap; or make system-deps)" >&2
        exit 3
    fi
}

write_conf() {
    mkdir -p "$STATE"/{storage,run,tmp,volumes,networks}
    local wanted
    wanted=$(cat <<CONF
# Written by sandbox-image/podman-service.sh. crun fails on this cgroup setup, so runc; cgroupfs since
# there is no systemd; exit_command_delay keeps exited containers' cleanup from racing the API.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$STATE/events.log"
exit_command_delay = 10
tmp_dir = "$STATE/tmp"
volume_path = "$STATE/volumes"

[network]
network_config_dir = "$STATE/networks"
CONF
)
    if [[ ! -f "$CONF" ]] || [[ "$(cat "$CONF")" != "$wanted" ]]; then
        printf '%s\n' "$wanted" >"$CONF"
    fi
}

# Storage is given by flags on every command, the service included (mixing flags with
# CONTAINERS_STORAGE_CONF caused 20 s hangs).
run_podman() {
    CONTAINERS_CONF="$CONF" podman --root "$STATE/storage" --runroot "$STATE/run" --tmpdir "$STATE/tmp" "$@"
}

ping() {
    [[ -S "$SOCK" ]] && python3 - "$SOCK" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
sys.exit(0 if b" 200 " in data.split(b"\r\n", 1)[0] + b" " else 1)
PY
}

start() {
    need
    write_conf
    if ping; then
        return 0
    fi
    rm -f "$SOCK"
    # From the state dir: conmon drops marker files (e.g. `oom`) in its working directory.
    cd "$STATE"
    CONTAINERS_CONF="$CONF" nohup podman --root "$STATE/storage" --runroot "$STATE/run" --tmpdir "$STATE/tmp" \
        system service --time=0 "unix://$SOCK" >>"$STATE/service.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 150); do
        if ping; then
            return 0
        fi
        sleep 0.1
    done
    echo "podman service did not answer on $SOCK; see $STATE/service.log" >&2
    exit 1
}

stop() {
    need
    write_conf
    # Containers outlive the service: remove them first.
    local ids
    ids=$(run_podman ps -aq 2>/dev/null || true)
    if [[ -n "$ids" ]]; then
        # shellcheck disable=SC2086
        run_podman rm -f -t 0 $ids >/dev/null 2>&1 || true
    fi
    if [[ -f "$PIDFILE" ]]; then
        local pid
        pid=$(cat "$PIDFILE")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
        fi
        rm -f "$PIDFILE"
    fi
    rm -f "$SOCK"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) ping ;;
env)
    write_conf
    echo "DOCKER_HOST=unix://$SOCK"
    echo "CONTAINERS_CONF=$CONF"
    echo "RIADEX_PODMAN_DIR=$STATE"
    ;;
podman)
    need
    write_conf
    shift
    run_podman "$@"
    ;;
*)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

#!/bin/sh
# The container's entry (as root, under tini): load the egress rules when the control plane passes them
# (SANDBOX_EGRESS_V4/_V6, iptables-restore input; needs CAP_NET_ADMIN, which is then dropped), then run
# the tool server as its own user, `riadex` (1001), keeping only the capabilities it needs to start the
# agent's commands as `sandbox` (1000, SANDBOX_RUN_AS) and to hand it the files it writes. The agent's
# commands get no capability at all (sandbox_server/identity.py).
set -eu

if [ -n "${SANDBOX_EGRESS_V4:-}" ]; then
    # The resolvers of this container's resolv.conf answer DNS, whatever range they are in.
    dns=$(awk '/^nameserver/ {print $2}' /etc/resolv.conf)
    {
        printf '%s\n' "$SANDBOX_EGRESS_V4" | sed '/^COMMIT$/d'
        for ns in $dns; do
            case "$ns" in *:*) continue ;; esac
            echo "-I OUTPUT -d $ns -p udp --dport 53 -j ACCEPT"
            echo "-I OUTPUT -d $ns -p tcp --dport 53 -j ACCEPT"
        done
        echo COMMIT
    } | iptables-restore
    if [ -n "${SANDBOX_EGRESS_V6:-}" ] && command -v ip6tables-restore >/dev/null; then
        printf '%s\n' "$SANDBOX_EGRESS_V6" | ip6tables-restore || true  # no IPv6 in the container: nothing to filter
    fi
fi
unset SANDBOX_EGRESS_V4 SANDBOX_EGRESS_V6

if [ "$(id -u)" = 0 ]; then
    caps=+setuid,+setgid,+chown,+dac_override,+fowner,+setpcap
    export SANDBOX_RUN_AS=1000:1000 HOME=/workspace
    exec setpriv --reuid=1001 --regid=1000 --groups=1000 \
        --inh-caps=-all,$caps --ambient-caps=-all,$caps --bounding-set=-all,$caps -- "$@"
fi
exec "$@"

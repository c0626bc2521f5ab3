"""The jail's door: new network and user namespaces, set up by the host before bubblewrap runs.

Runs as root of the host, with the system's (or the sandbox's) Python and the standard library only,
executed as a script, never imported by riadex:

    python3 jail_gate.py [--net RULES_V4 RULES_V6] -- bwrap ...

1. `--net`: enter a new network namespace (owned by the host's root: nothing in the jail can ever
   administer it), wait for the host to attach the uplink (one byte on stdin), load the egress rules
   (a failure ends here: never a jail without them);
2. enter a new user namespace, wait for the host to write its uid/gid maps (one byte on stdin): inside,
   uid 0 is an unprivileged uid of the host (SANDBOX_UID_BASE), and the jail's other users (the agent's
   1000) are the uids after it;
3. stage what the jail binds: bubblewrap runs as the new namespace's root, an unprivileged uid of the
   host that may not walk to the sources (a data dir under /root, a 0700 tmp dir). So the host marks
   them (`--stage-bind SRC DEST`, `--stage-ro-bind SRC DEST` in the bwrap command) and this binds each
   onto a tmpfs in a private mount namespace of its own (STAGE; propagation private: nothing reaches
   the host's mounts), handing bubblewrap the staged path instead;
4. become that namespace's root and exec bubblewrap, which builds the rest of the jail.

The tool server then runs as that root (it can drop to the agent's user and chown its files), the
agent's shell as uid 1000: another user, who cannot read the server's memory, environment or secret.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
STAGE = "/tmp"  # noqa: S108 - hidden by a tmpfs in this private mount namespace only


_LIBC = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _unshare(flags: int) -> None:
    _check(_LIBC.unshare(flags), f"unshare({flags:#x})")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _LIBC.mount(
            source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )  # fmt: skip


def _stage(command: list[str]) -> list[str]:
    """Replace every `--stage-bind SRC DEST` / `--stage-ro-bind SRC DEST` by a bind of a staged path."""
    _unshare(CLONE_NEWNS)
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    marked = [i for i, word in enumerate(command) if word in ("--stage-bind", "--stage-ro-bind")]
    # Open the sources in this namespace before the tmpfs covers STAGE (a source may be under it).
    fds = {i: os.open(command[i + 1], os.O_PATH | os.O_CLOEXEC) for i in marked}
    _mount("riadex-stage", STAGE, "tmpfs", 0, "mode=0755")
    staged = list(command)
    for n, i in enumerate(marked):
        target = os.path.join(STAGE, str(n))
        if os.path.isdir(f"/proc/self/fd/{fds[i]}"):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(f"/proc/self/fd/{fds[i]}", target, None, MS_BIND | MS_REC)
        os.close(fds[i])
        staged[i : i + 2] = ["--bind" if command[i] == "--stage-bind" else "--ro-bind", target]
    return staged


def _wait_for_host() -> None:
    if os.read(0, 1) != b"1":
        raise SystemExit("jail_gate: the host gave up")


def _load_rules(v4: str, v6: str) -> None:
    with open(v4, "rb") as rules:
        subprocess.run(["iptables-restore"], stdin=rules, check=True)  # noqa: S607
    if shutil.which("ip6tables-restore") and os.path.getsize(v6):
        with open(v6, "rb") as rules:
            subprocess.run(["ip6tables-restore"], stdin=rules, check=True)  # noqa: S607


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    if options[:1] == ["--net"]:
        _unshare(CLONE_NEWNET)
        _wait_for_host()
        _load_rules(options[1], options[2])
    command = _stage(command)
    _unshare(CLONE_NEWUSER)
    _wait_for_host()
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.execvp(command[0], command)  # noqa: S606


if __name__ == "__main__":
    main(sys.argv[1:])

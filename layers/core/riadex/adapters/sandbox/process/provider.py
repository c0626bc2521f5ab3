"""The `process` backend: the tool server as a child process of this one, jailed with bubblewrap.

Isolation, when `bwrap` is on PATH (jail="auto"/"bwrap"):
- every namespace unshared, the network included. The tool server is reached through a unix socket in
  a bind-mounted directory (the server listens on it; host_relay.py outside), not through a host port;
- the network (`network`, SANDBOX_NETWORK): `internet` (the default) gives the jail a namespace of its
  own whose uplink is slirp4netns (user-mode TCP/IP, the host's loopback disabled) and whose OUTPUT
  chain rejects the host's loopback and own addresses, private, shared and link-local ranges (the
  metadata endpoints) and so other sandboxes — the rules of egress.py, loaded by root before the jail
  starts, in a namespace the jail's user cannot administer; `none` has no uplink at all; `host` shares
  the host's network (an explicit opt-in: the host's loopback services are then reachable);
- a root of read-only system binds (/usr and a few /etc entries — not /etc whole, not /root, not the
  data dir), a private /tmp, the sandbox's own workspace as /workspace, uid 1000 inside;
- an environment built from nothing (`--clearenv`): the host's AWS credentials, tokens and settings
  never enter;
- `--die-with-parent` and `--new-session`: a sandbox never outlives the server that started it and
  cannot push input into its terminal;
- a cgroup per sandbox capping memory and process count (see limits.py).
Without bwrap, jail="auto"/"bwrap" start no sandbox (Unavailable, naming the package): the jail fails
closed. Only an explicit jail="none" (SANDBOX_JAIL=none) runs unjailed, with a warning at start and at
every acquire; the server still gets an environment built from nothing, a workspace of its
own and the cgroup limits, but shares the host's filesystem view and network: fit for development only.

A process sandbox belongs to the process that started it; after a restart its record's handle is not
ours any more, `healthy` says so, and the session gets a new sandbox on next use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from riadex.adapters.sandbox import egress
from riadex.adapters.sandbox.process import footprint, limits
from riadex.adapters.sandbox.process.host_relay import HostRelays
from riadex.adapters.tools import server
from riadex.domain.errors import Unavailable
from riadex.domain.sandboxes import SandboxHandle

log = logging.getLogger(__name__)

BACKEND = "process"
JAIL_WORKSPACE = "/workspace"
JAIL_RUN = "/run/riadex"
NO_BWRAP = (
    "process sandboxes are jailed with bubblewrap, which is not installed: install the `bubblewrap` "
    "package (apt-get install bubblewrap), or set SANDBOX_JAIL=none to run them unjailed (development only)"
)
NO_JAIL_WARNING = (
    "SANDBOX_JAIL=none: process sandboxes run unjailed, sharing this host's files and network "
    "(development only)"
)
UPLINK_TOOLS = ("slirp4netns", "iptables-restore")
UPLINK_DEVICE = "tap0"
UPLINK_MTU = 65520
GATE = Path(__file__).with_name("jail_gate.py")
UID_BASE = 200_000
"""The jail's user namespace maps its uids 0-65535 to the host's UID_BASE + 0-65535: its root (the tool
server) and its agent (1000) are unprivileged uids of the host, distinct from each other."""
UID_COUNT = 65_536
AGENT_UID = 1000
ETC_ENTRIES = (
    "ssl",
    "ca-certificates",
    "alternatives",
    "hosts",
    "nsswitch.conf",
    "localtime",
    "mime.types",
    "fonts",
    "chromium",  # Debian's /usr/bin/chromium is a script that sources /etc/chromium.d
    "chromium.d",
)


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    directory: Path
    cgroups: limits.Cgroups | None
    relay_key: str | None
    uplink: _Uplink | None = None


@dataclass
class _Uplink:
    """The slirp4netns process serving a jail's network namespace; it exits when `exit_fd` closes
    (here on release, or by itself if this process dies)."""

    process: subprocess.Popen[bytes]
    exit_fd: int

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.exit_fd)
        _terminate(self.process)


# Process-wide, not per instance: the local stack builds more than one container (the API's and the
# in-process task handlers'), and a sandbox one started must be known, healthy and releasable by all.
_CHILDREN: dict[str, _Child] = {}
_LOCK = threading.Lock()
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
"""Sandboxes are started from this one long-lived thread: bwrap's --die-with-parent is the parent
*thread*'s death signal, and a request thread (the local Lambda Invoke server's, a web server's) ends
right after the acquire, which would kill the sandbox it just started."""
_RELAYS = HostRelays()


@dataclass
class ProcessSandboxes:
    server_dir: Path
    """The directory holding the `sandbox_server` package (sandbox-image/)."""
    root: Path
    """Where sandboxes get their directories (workspace, socket, log)."""
    python: str = sys.executable
    jail: str = "auto"
    network: str = "none"
    """internet | none | host (see the module docstring)."""
    allow_hosts: str = ""
    """SANDBOX_ALLOW_HOSTS (egress.py): exceptions to the `internet` block list."""
    memory_bytes: int = 1024 * 1024 * 1024
    pids_max: int = 256
    browser: bool = False
    vnc: bool = False
    idle_timeout_seconds: int = 1800
    start_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        # bwrap binds and the child's PYTHONPATH need absolute paths whatever the caller's cwd.
        self.server_dir = self.server_dir.resolve()
        self.root = self.root.resolve()
        if self.network not in ("internet", "none", "host"):
            raise ValueError(f"network must be internet, none or host, not {self.network!r}")
        egress.parse_allow_hosts(self.allow_hosts)  # a malformed entry fails here, not at acquire
        if self.jail == "none":
            log.warning(NO_JAIL_WARNING)

    def effective_network(self) -> str:
        """What a jailed sandbox gets: `internet` needs slirp4netns, iptables and unshare; without them
        it falls back to `none` (safe: no network) and says so."""
        if self.network != "internet":
            return self.network
        if os.geteuid() != 0:
            log.warning("SANDBOX_NETWORK=internet needs root (the egress rules); the sandbox has no network")
            return "none"
        missing = [tool for tool in UPLINK_TOOLS if shutil.which(tool) is None]
        if missing:
            log.warning(
                "SANDBOX_NETWORK=internet needs %s (apt-get install slirp4netns iptables); "
                "the sandbox has no network",
                ", ".join(missing),
            )
            return "none"
        return "internet"

    @property
    def backend(self) -> str:
        return BACKEND

    @property
    def jailed(self) -> bool:
        """Fail closed: with the jail asked for (auto or bwrap) and no bwrap, no sandbox starts."""
        if self.jail == "none":
            return False
        if shutil.which("bwrap") is None:
            raise Unavailable(NO_BWRAP)
        return True

    # --- SandboxProvider -------------------------------------------------------------------------

    def acquire(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle:
        directory = self.root / sandbox_id
        workspace = directory / "workspace"
        run_dir = directory / "run"
        workspace.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(exist_ok=True)
        secret = secrets.token_urlsafe(32)
        jailed = self.jailed
        if not jailed:
            logging.getLogger(__name__).warning("%s (sandbox %s)", NO_JAIL_WARNING, sandbox_id)
        network = self.effective_network() if jailed else "host"
        # The secret goes through a pipe (SANDBOX_SECRET_FD): never in an environment or a command line.
        secret_r, secret_w = os.pipe()
        os.write(secret_w, secret.encode())
        os.close(secret_w)
        # As root, jail_gate.py gives the jail its user namespace (the agent another user than the
        # server) and its network; otherwise bubblewrap maps the caller to uid 1000, server and agent.
        gated = jailed and os.geteuid() == 0
        env = self._server_env(secret_r, JAIL_WORKSPACE if jailed else str(workspace), gated)
        if jailed and not gated:
            command = self._jail_command(env, workspace, run_dir, network, directory, gated=False)
        elif jailed:
            # The jail's root (the server) owns the socket directory; the agent (1000) the workspace.
            os.chown(run_dir, UID_BASE, UID_BASE)
            run_dir.chmod(0o700)
            os.chown(workspace, UID_BASE + AGENT_UID, UID_BASE + AGENT_UID)
            command = [
                self.python, str(GATE),
                *(self._egress_files(directory) if network == "internet" else []),
                "--", *self._jail_command(env, workspace, run_dir, network, directory),
            ]  # fmt: skip
        else:
            command = self._plain_command()
        cgroups = limits.create(sandbox_id, self.memory_bytes, self.pids_max)
        if cgroups is not None:
            command = ["/bin/sh", "-c", f'{cgroups.join_script()}; exec "$@"', "sh", *command]
        log = (directory / "server.log").open("ab")
        try:
            process = _SPAWNER.submit(
                subprocess.Popen,
                command,
                stdin=subprocess.PIPE if gated else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=None if jailed else env,
                cwd=directory,
                start_new_session=True,
                pass_fds=(secret_r,),
            ).result()
        finally:
            log.close()
            os.close(secret_r)
        child = _Child(process=process, directory=directory, cgroups=cgroups, relay_key=None)
        with _LOCK:
            _CHILDREN[sandbox_id] = child
        try:
            if gated:
                self._open_gate(child, network)
            endpoint = self._await_endpoint(child, jailed, run_dir / "tool.sock", sandbox_id)
            handle = SandboxHandle(
                backend=BACKEND, sandbox_id=sandbox_id, endpoint=endpoint, secret=secret, ref=str(process.pid)
            )
            deadline = time.monotonic() + self.start_timeout_seconds
            if not server.wait_healthy(handle, deadline, alive=lambda: process.poll() is None):
                raise Unavailable(f"the sandbox did not become healthy: {self._log_tail(directory)}")
        except BaseException:
            self._stop(sandbox_id)
            raise
        return handle

    def healthy(self, handle: SandboxHandle) -> bool:
        child = _CHILDREN.get(handle.sandbox_id)
        if child is None or child.process.poll() is not None:
            return False
        return server.health(handle) is not None

    def release(self, handle: SandboxHandle) -> None:
        self._stop(handle.sandbox_id)

    def footprint(self, handle: SandboxHandle) -> footprint.Footprint | None:
        """The sandbox's memory, every process of it and its uplink (footprint.py); None if not ours."""
        child = _CHILDREN.get(handle.sandbox_id)
        if child is None:
            return None
        pids = footprint.descendants(child.process.pid)
        if child.uplink is not None:
            pids.append(child.uplink.process.pid)
        return footprint.measure(pids)

    def release_all(self) -> None:
        """Stop every sandbox of this root, whichever instance started it (shutdown, test teardown)."""
        with _LOCK:
            mine = [sid for sid, child in _CHILDREN.items() if child.directory.parent == self.root]
        for sandbox_id in mine:
            self._stop(sandbox_id)

    # --- internals -------------------------------------------------------------------------------

    def _server_env(self, secret_fd: int, workspace: str, jailed: bool) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": workspace,
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.server_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
            "SANDBOX_SECRET_FD": str(secret_fd),
            # In the jail the server is its user namespace's root and the agent's commands run as 1000.
            **({"SANDBOX_RUN_AS": f"{AGENT_UID}:{AGENT_UID}"} if jailed else {}),
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": "0",
            "SANDBOX_WORKSPACE": workspace,
            "SANDBOX_IDLE_TIMEOUT": str(self.idle_timeout_seconds),
            "SANDBOX_BROWSER": "1" if self.browser else "0",
            "SANDBOX_VNC": "1" if self.vnc else "0",
        }

    def _plain_command(self) -> list[str]:
        return [self.python, "-m", "sandbox_server"]

    def _egress_files(self, directory: Path) -> list[str]:
        """jail_gate.py's `--net` arguments: the egress rules, written where the jail cannot see them."""
        rules = egress.policy(self.allow_hosts, egress.host_addresses())
        (directory / "egress.v4").write_text(rules.iptables_rules(4))
        (directory / "egress.v6").write_text(rules.iptables_rules(6))
        return ["--net", str(directory / "egress.v4"), str(directory / "egress.v6")]

    def _open_gate(self, child: _Child, network: str) -> None:
        """Walk jail_gate.py through its steps: the uplink for its network namespace (internet), the
        uid/gid maps for its user namespace, each followed by a byte on its stdin."""
        process = child.process
        assert process.stdin is not None
        try:
            if network == "internet":
                self._await_namespace(child, "net")
                child.uplink = self._attach_uplink(process)
                process.stdin.write(b"1")
                process.stdin.flush()
            self._await_namespace(child, "user")
            for name in ("uid_map", "gid_map"):
                Path(f"/proc/{process.pid}/{name}").write_text(f"0 {UID_BASE} {UID_COUNT}\n")
            process.stdin.write(b"1")
            process.stdin.close()
        except OSError as exc:
            raise Unavailable(f"the sandbox's jail could not be set up: {exc}") from None

    def _await_namespace(self, child: _Child, kind: str) -> None:
        process = child.process
        ours = os.readlink(f"/proc/self/ns/{kind}")
        deadline = time.monotonic() + self.start_timeout_seconds
        while True:
            try:
                if os.readlink(f"/proc/{process.pid}/ns/{kind}") != ours:
                    return
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(
                    f"the sandbox's {kind} namespace was not created: {self._log_tail(child.directory)}"
                )
            time.sleep(0.002)

    def _attach_uplink(self, process: subprocess.Popen[bytes]) -> _Uplink:
        """Give the child's network namespace slirp4netns as its uplink, once it is up."""
        deadline = time.monotonic() + self.start_timeout_seconds
        ready_r, ready_w = os.pipe()
        exit_r, exit_w = os.pipe()
        args = [
            "slirp4netns",
            "--configure",
            f"--mtu={UPLINK_MTU}",
            # The host's loopback (as slirp's gateway, 10.0.2.2) only when a `host:PORT` is allowed; the
            # egress rules then open those ports of it and nothing else.
            *([] if egress.parse_allow_hosts(self.allow_hosts)[1] else ["--disable-host-loopback"]),
            f"--ready-fd={ready_w}",
            f"--exit-fd={exit_r}",
            str(process.pid),
            UPLINK_DEVICE,
        ]
        try:
            slirp = subprocess.Popen(  # noqa: S603 - fixed argv
                args, pass_fds=(ready_w, exit_r), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            os.close(ready_w)
            os.close(exit_r)
        uplink = _Uplink(process=slirp, exit_fd=exit_w)
        try:
            ready, _, _ = select.select([ready_r], [], [], max(0.1, deadline - time.monotonic()))
            if not ready or os.read(ready_r, 1) != b"1":
                raise Unavailable("slirp4netns did not bring the sandbox's network up")
        except BaseException:
            uplink.stop()
            raise
        finally:
            os.close(ready_r)
        return uplink

    def _jail_command(
        self,
        env: dict[str, str],
        workspace: Path,
        run_dir: Path,
        network: str,
        directory: Path,
        gated: bool = True,
    ) -> list[str]:
        def bind(source: Path | str, dest: str, read_only: bool = True) -> list[str]:
            # Staged by jail_gate.py as the host's root: the jail's root (an unprivileged uid of the
            # host) may not be able to walk to the source (a data dir under /root, pytest's 0700 tmp).
            if not gated:
                return ["--ro-bind" if read_only else "--bind", str(source), dest]
            return ["--stage-ro-bind" if read_only else "--stage-bind", str(source), dest]

        if gated:
            # No --unshare-user: jail_gate.py made the user namespace (several uids, see UID_BASE).
            namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
            if network == "none":
                namespaces.append("--unshare-net")
        else:
            namespaces = ["--unshare-all", "--uid", str(AGENT_UID), "--gid", str(AGENT_UID)]
            if network == "host":
                namespaces.append("--share-net")

        args = [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            *namespaces,
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            "--dev", "/dev",
            "--perms", "1777", "--tmpfs", "/tmp",  # noqa: S108
            *bind(workspace, JAIL_WORKSPACE, read_only=False),
            *bind(run_dir, JAIL_RUN, read_only=False),
            *bind(self.server_dir, str(self.server_dir)),
            "--clearenv",
            "--chdir", JAIL_WORKSPACE,
        ]  # fmt: skip
        for entry in ETC_ENTRIES:
            args += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
        if network == "host":
            args += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
        elif network == "internet":
            (directory / "resolv.conf").write_text(f"nameserver {egress.SLIRP_DNS}\n")
            args += bind(directory / "resolv.conf", "/etc/resolv.conf")
        for prefix in _python_prefixes(self.python):
            args += bind(prefix, prefix)
        for name, value in env.items():
            args += ["--setenv", name, value]
        return [*args, "--setenv", "SANDBOX_SOCKET", f"{JAIL_RUN}/tool.sock", *self._plain_command()]

    def _await_endpoint(self, child: _Child, jailed: bool, socket_path: Path, sandbox_id: str) -> str:
        """Read the child's stdout until it says where it listens (see API.md): in the jail, the unix
        socket of the bind-mounted run directory, which a host-side relay turns into a local port."""
        stdout = child.process.stdout
        assert stdout is not None
        line = _read_line(stdout, self.start_timeout_seconds)
        if jailed and line.startswith(b"SANDBOX_READY socket="):
            _discard_rest(stdout)
            child.relay_key = sandbox_id
            return f"http://127.0.0.1:{_RELAYS.open(sandbox_id, socket_path)}"
        if not jailed and line.startswith(b"SANDBOX_READY port="):
            _discard_rest(stdout)
            return f"http://127.0.0.1:{int(line.split(b'=', 1)[1].split()[0])}"
        raise Unavailable(f"the sandbox server did not start: {self._log_tail(child.directory)}")

    def _stop(self, sandbox_id: str) -> None:
        with _LOCK:
            child = _CHILDREN.pop(sandbox_id, None)
        if child is None:
            return
        if child.relay_key is not None:
            _RELAYS.close(child.relay_key)
        _terminate(child.process)
        if child.uplink is not None:
            child.uplink.stop()
        if child.cgroups is not None:
            for _ in range(50):
                child.cgroups.kill_all()
                if not child.cgroups.pids():
                    break
                time.sleep(0.02)
            child.cgroups.remove()
        shutil.rmtree(child.directory, ignore_errors=True)

    @staticmethod
    def _log_tail(directory: Path) -> str:
        try:
            text = (directory / "server.log").read_text(errors="replace")
        except OSError:
            return "no log"
        return text[-600:].strip() or "no output"


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            os.killpg(process.pid, signal.SIGCONT)  # a stopped (hung) sandbox gets its SIGTERM too
            process.wait(timeout=3)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    if process.stdout is not None:
        process.stdout.close()


def _read_line(stream: IO[bytes], timeout: float) -> bytes:
    """One line from a pipe, or b"" after `timeout` (the child is then cleaned up by the caller)."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


def _discard_rest(stream: IO[bytes]) -> None:
    """Keep reading the child's stdout so it never blocks on a full pipe."""

    def drain() -> None:
        try:
            while stream.readline():
                pass
        except (OSError, ValueError):
            pass

    threading.Thread(target=drain, name="sandbox-stdout", daemon=True).start()


_PREFIXES: dict[str, list[str]] = {}


def _python_prefixes(python: str) -> list[str]:
    """The directories a Python needs (its venv and its base install) that /usr does not cover."""
    if python not in _PREFIXES:
        out = subprocess.run(  # noqa: S603
            [python, "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin"},
        ).stdout.split()
        real = {os.path.realpath(p) for p in out} | set(out)
        _PREFIXES[python] = sorted(p for p in real if not p.startswith("/usr"))
    return _PREFIXES[python]

"""The `process` backend: the tool server as a child process of this one, jailed with bubblewrap.

Isolation, when `bwrap` is on PATH (jail="auto"/"bwrap"):
- every namespace unshared, the network included: the jail's loopback is its own, so nothing it runs
  can reach the host's local services (moto holding every table, the API itself) and, unless
  `network=True`, nothing outside either. The tool server is reached through a unix socket in a
  bind-mounted directory (jail_relay.py inside, host_relay.py outside), not through a host port;
- a root of read-only system binds (/usr and a few /etc entries — not /etc whole, not /root, not the
  data dir), a private /tmp, the sandbox's own workspace as /workspace, uid 1000 inside;
- an environment built from nothing (`--clearenv`): the host's AWS credentials, tokens and settings
  never enter;
- `--die-with-parent` and `--new-session`: a sandbox never outlives the server that started it and
  cannot push input into its terminal;
- a cgroup per sandbox capping memory and process count (see limits.py).
Without bwrap (jail="none") the server still gets an environment built from nothing, a workspace of its
own and the cgroup limits, but shares the host's filesystem view and network: fit for development only.

A process sandbox belongs to the process that started it; after a restart its record's handle is not
ours any more, `healthy` says so, and the session gets a new sandbox on next use.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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

from riadex.adapters.sandbox.process import limits
from riadex.adapters.sandbox.process.host_relay import HostRelays
from riadex.adapters.tools import server
from riadex.domain.errors import Unavailable
from riadex.domain.sandboxes import SandboxHandle

BACKEND = "process"
JAIL_WORKSPACE = "/workspace"
JAIL_RUN = "/run/riadex"
RELAY_SCRIPT = Path(__file__).with_name("jail_relay.py")
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
    network: bool = False
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

    @property
    def backend(self) -> str:
        return BACKEND

    @property
    def jailed(self) -> bool:
        if self.jail == "none":
            return False
        if shutil.which("bwrap") is None:
            if self.jail == "bwrap":
                raise Unavailable(
                    "SANDBOX_JAIL=bwrap but bubblewrap is not installed (apt-get install bubblewrap)"
                )
            return False
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
        env = self._server_env(secret, JAIL_WORKSPACE if jailed else str(workspace))
        command = self._jail_command(env, workspace, run_dir) if jailed else self._plain_command()
        cgroups = limits.create(sandbox_id, self.memory_bytes, self.pids_max)
        if cgroups is not None:
            command = ["/bin/sh", "-c", f'{cgroups.join_script()}; exec "$@"', "sh", *command]
        log = (directory / "server.log").open("ab")
        try:
            process = _SPAWNER.submit(
                subprocess.Popen,
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env=None if jailed else env,
                cwd=directory,
                start_new_session=True,
            ).result()
        finally:
            log.close()
        child = _Child(process=process, directory=directory, cgroups=cgroups, relay_key=None)
        with _LOCK:
            _CHILDREN[sandbox_id] = child
        try:
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

    def release_all(self) -> None:
        """Stop every sandbox of this root, whichever instance started it (shutdown, test teardown)."""
        with _LOCK:
            mine = [sid for sid, child in _CHILDREN.items() if child.directory.parent == self.root]
        for sandbox_id in mine:
            self._stop(sandbox_id)

    # --- internals -------------------------------------------------------------------------------

    def _server_env(self, secret: str, workspace: str) -> dict[str, str]:
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": workspace,
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.server_dir),
            "PYTHONDONTWRITEBYTECODE": "1",
            "SANDBOX_SECRET": secret,
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": "0",
            "SANDBOX_WORKSPACE": workspace,
            "SANDBOX_IDLE_TIMEOUT": str(self.idle_timeout_seconds),
            "SANDBOX_BROWSER": "1" if self.browser else "0",
            "SANDBOX_VNC": "1" if self.vnc else "0",
        }

    def _plain_command(self) -> list[str]:
        return [self.python, "-m", "sandbox_server"]

    def _jail_command(self, env: dict[str, str], workspace: Path, run_dir: Path) -> list[str]:
        args = [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-all",
            *(["--share-net"] if self.network else []),
            "--uid", "1000", "--gid", "1000",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/sbin", "/sbin",
            "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64",
            "--proc", "/proc",
            "--dev", "/dev",
            "--tmpfs", "/tmp",  # noqa: S108
            "--bind", str(workspace), JAIL_WORKSPACE,
            "--bind", str(run_dir), JAIL_RUN,
            "--ro-bind", str(RELAY_SCRIPT), f"{JAIL_RUN}-relay.py",
            "--ro-bind", str(self.server_dir), str(self.server_dir),
            "--clearenv",
            "--chdir", JAIL_WORKSPACE,
        ]  # fmt: skip
        for entry in ETC_ENTRIES:
            args += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
        if self.network:
            args += ["--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]
        for prefix in _python_prefixes(self.python):
            args += ["--ro-bind", prefix, prefix]
        for name, value in env.items():
            args += ["--setenv", name, value]
        return [*args, self.python, f"{JAIL_RUN}-relay.py", f"{JAIL_RUN}/tool.sock", *self._plain_command()]

    def _await_endpoint(self, child: _Child, jailed: bool, socket_path: Path, sandbox_id: str) -> str:
        """Read the child's stdout until it says where it listens (see API.md and jail_relay.py)."""
        stdout = child.process.stdout
        assert stdout is not None
        line = _read_line(stdout, self.start_timeout_seconds)
        if jailed and line.startswith(b"RELAY_READY"):
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

"""Sandbox acquire time per backend, and a shell round trip (`true`) from the package through the tool
server (HttpToolGateway → HTTP → tool server → bash → back).

process: the bubblewrap-jailed child process (with the cgroup limits), acquire = start + first healthy
answer. docker: a container on podman's Docker API (slirp4netns), measured when podman and the image
scripts are there. fargate cannot be measured here (45-90 s is what AWS users report).

Memory (process backend, jailed, `internet` when this runs as root with slirp4netns): an idle sandbox,
every process of it and its uplink summed from smaps_rollup (rss, pss, uss: footprint.py), fresh and
idle again after a shell command and a file write; and per idle session on the local stack (the
deployed ASL, scripted model): sessions whose chat-only run finished hold no sandbox, a session whose
run used the shell holds one.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "core"))

from riadex.adapters.sandbox.process import footprint  # noqa: E402
from riadex.adapters.sandbox.process.provider import _CHILDREN, ProcessSandboxes  # noqa: E402
from riadex.adapters.tools import server  # noqa: E402
from riadex.adapters.tools.gateway import HttpToolGateway  # noqa: E402
from riadex.application.sandbox_ports import SandboxProvider  # noqa: E402
from riadex.domain import ids  # noqa: E402

_STARTED: list[Path] = []
ACQUIRES = 5
ROUND_TRIPS = 200
IDLE_SESSIONS = 5
OWNER = "usr_" + "0" * 32


def _server_dir(scratch: Path) -> Path | None:
    local = ROOT / "sandbox-image"
    if (local / "sandbox_server" / "__main__.py").is_file():
        return local
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "sandbox-server", "sandbox-image"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive.stdout, check=True)
    return scratch / "sandbox-image"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _measure(provider: SandboxProvider, prefix: str, figures: dict[str, object]) -> None:
    acquire_ms: list[float] = []
    handles = []
    for _ in range(ACQUIRES):
        started = time.perf_counter()
        handles.append(provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr")))
        acquire_ms.append((time.perf_counter() - started) * 1000)
    tools = HttpToolGateway()
    handle = handles[0]
    tools.call(handle, "shell_exec", {"session_id": "bench", "command": "true"})  # warm the session
    trips: list[float] = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        tools.call(handle, "shell_exec", {"session_id": "bench", "command": "true"})
        trips.append((time.perf_counter() - started) * 1000)
    health: list[float] = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        server.request(handle, "GET", "/health")
        health.append((time.perf_counter() - started) * 1000)
    for made in handles:
        provider.release(made)
    figures[f"{prefix}_acquire_median_ms"] = round(statistics.median(acquire_ms), 1)
    figures[f"{prefix}_acquire_max_ms"] = round(max(acquire_ms), 1)
    figures[f"{prefix}_shell_true_p50_ms"] = round(_percentile(trips, 0.5), 2)
    figures[f"{prefix}_shell_true_p99_ms"] = round(_percentile(trips, 0.99), 2)
    figures[f"{prefix}_health_p50_ms"] = round(_percentile(health, 0.5), 2)


def _idle_sandbox(server_dir: Path, root: Path, figures: dict[str, object]) -> None:
    network = "internet" if shutil.which("slirp4netns") else "none"
    provider = ProcessSandboxes(server_dir=server_dir, root=root, network=network)
    handle = provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    try:
        time.sleep(1.0)  # settled after its first answers
        fresh = provider.footprint(handle)
        assert fresh is not None
        tools = HttpToolGateway()
        tools.call(handle, "shell_exec", {"session_id": "default", "command": "echo used"})
        tools.call(handle, "file_write", {"file": "a.txt", "content": "x"})
        time.sleep(1.0)
        used = provider.footprint(handle)
        assert used is not None
    finally:
        provider.release(handle)
    figures["process_idle_sandbox_network"] = network
    figures["process_idle_sandbox_processes"] = fresh.processes
    for name, value in fresh.mib().items():
        figures[f"process_idle_sandbox_{name}_mib"] = value
    for name, value in used.mib().items():
        figures[f"process_idle_sandbox_after_use_{name}_mib"] = value


def _idle_sessions(figures: dict[str, object]) -> None:
    """Sessions whose run finished, on the local stack: what their sandboxes hold, per session."""
    from bench.b_agent import run_until_done
    from riadex.application.sessions import create_session
    from riadex.config import Settings
    from riadex.entrypoints.local.stack import LocalStack

    with tempfile.TemporaryDirectory() as data:
        stack = LocalStack(Settings(RIADEX_DATA_DIR=Path(data), snapshot_interval_seconds=0))
        settings = stack.start()
        container = stack.container
        assert container is not None
        provider: Any = container.sandboxes.provider
        try:
            for label, message in (("chat", "hello"), ("shell", "hello\n!shell true")):
                for _ in range(IDLE_SESSIONS):
                    session = create_session(OWNER, None, container.sessions, settings.max_title_chars)
                    run_until_done(container, session.session_id, message)
                mine = [c for c in _CHILDREN.values() if c.directory.parent == provider.root]
                held = footprint.measure(pid for c in mine for pid in footprint.descendants(c.process.pid))
                figures[f"idle_session_{label}_sandboxes"] = len(mine)
                figures[f"idle_session_{label}_pss_mib"] = round(held.pss / footprint.MIB / IDLE_SESSIONS, 1)
                provider.release_all()
        finally:
            provider.release_all()
            stack.stop()


def _docker(server_dir: Path, scratch: Path) -> Any:
    """A docker backend on the private podman service (started if needed: see `_stop_podman`)."""
    service, build = server_dir / "podman-service.sh", server_dir / "build-image.sh"
    if shutil.which("podman") is None or not service.is_file() or not build.is_file():
        return None
    if subprocess.run([str(service), "status"], check=False).returncode != 0:
        _STARTED.append(service)
    # From a scratch cwd: conmon leaves `oom` marker files in the service's working directory.
    subprocess.run([str(service), "start"], check=True, timeout=60, cwd=scratch)
    env = dict(
        line.split("=", 1)
        for line in subprocess.run(
            [str(service), "env"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    built = subprocess.run([str(build)], capture_output=True, text=True, timeout=900, check=True)
    import docker

    from riadex.adapters.sandbox.docker.provider import DockerSandboxes

    client = docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=60)
    return DockerSandboxes(client=client, image=built.stdout.strip().splitlines()[-1])


def run() -> dict[str, object]:
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch:
        server_dir = _server_dir(Path(scratch))
        if server_dir is None:
            return {"skipped": "no sandbox-image/ (nor a sandbox-server branch) to run the tool server from"}
        process = ProcessSandboxes(server_dir=server_dir, root=Path(scratch) / "sandboxes")
        figures["process_jail"] = "bubblewrap" if process.jailed else "none"
        try:
            _measure(process, "process", figures)
        finally:
            process.release_all()
        if process.jailed:
            _idle_sandbox(server_dir, Path(scratch) / "idle", figures)
        _idle_sessions(figures)
        docker = _docker(server_dir, Path(scratch))
        if docker is None:
            figures["docker"] = "skipped: podman or sandbox-image scripts missing"
        else:
            try:
                _measure(docker, "docker", figures)
            finally:
                docker.release_all()
        for service in _STARTED:
            subprocess.run([str(service), "stop"], check=False, timeout=120)
    return figures

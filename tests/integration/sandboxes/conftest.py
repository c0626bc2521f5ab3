"""Where the real tool server comes from, and the backends under test.

The tool server lives in sandbox-image/ at the repository root. While it is still on its own branch
(`sandbox-server`), its files are taken from that branch with `git archive`; with neither, these
suites skip and say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from riadex.adapters.sandbox.process.provider import ProcessSandboxes
from tests.support.fargate_sim import SimulatedFargate, prepare_ecs, release_ecs

ROOT = Path(__file__).resolve().parents[3]
SERVER_BRANCH = "sandbox-server"
TEST_MEMORY_BYTES = 384 * 1024 * 1024
TEST_PIDS_MAX = 64


def _has_server(directory: Path) -> bool:
    return (directory / "sandbox_server" / "__main__.py").is_file()


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    local = ROOT / "sandbox-image"
    if _has_server(local):
        return local
    git = shutil.which("git")
    if git is not None:
        target = tmp_path_factory.mktemp("sandbox-server")
        archive = subprocess.run(
            [git, "-C", str(ROOT), "archive", SERVER_BRANCH, "sandbox-image"],
            capture_output=True,
            check=False,
        )
        if archive.returncode == 0:
            subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
            if _has_server(target / "sandbox-image"):
                return target / "sandbox-image"
    pytest.skip(
        "the sandbox tool server is missing: sandbox-image/sandbox_server not in the repository "
        f"and no `{SERVER_BRANCH}` branch to take it from"
    )


@pytest.fixture
def aws(moto_endpoint: str) -> Iterator[dict[str, Any]]:
    """ECS in moto, ready for the fargate backend (tests/support/fargate_sim.py: prepare_ecs)."""
    yield prepare_ecs(
        moto_endpoint,
        boto3.client("ec2", region_name="us-east-1"),
        boto3.client("ecs", region_name="us-east-1"),
    )
    release_ecs(moto_endpoint)


@pytest.fixture
def fargate_sim(aws: dict[str, Any], server_dir: Path, tmp_path: Path) -> Iterator[SimulatedFargate]:
    """The real tool server standing in for each task; `fargate_sim.backend(aws)` is the backend."""
    made = SimulatedFargate(aws["ecs"], server_dir, tmp_path / "workspaces")
    yield made
    made.stop_all()


def process_sandboxes(server_dir: Path, root: Path, **overrides: object) -> ProcessSandboxes:
    values: dict[str, object] = {
        "server_dir": server_dir,
        "root": root,
        "python": sys.executable,
        "memory_bytes": TEST_MEMORY_BYTES,
        "pids_max": TEST_PIDS_MAX,
        "start_timeout_seconds": 30.0,
    }
    values.update(overrides)
    return ProcessSandboxes(**values)  # type: ignore[arg-type]


@pytest.fixture
def process_provider(server_dir: Path, tmp_path: Path) -> Iterator[ProcessSandboxes]:
    provider = process_sandboxes(server_dir, tmp_path / "sandboxes")
    yield provider
    provider.release_all()


def jail_note() -> str:
    return "bubblewrap" if shutil.which("bwrap") else "no jail (bubblewrap not installed)"


@pytest.fixture(scope="session")
def clean_env() -> dict[str, str]:
    return dict(os.environ)


CONTAINER_TOOLS = ("podman", "debootstrap", "runc", "slirp4netns", "catatonit")


@pytest.fixture(scope="session")
def podman_image(server_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(DOCKER_HOST, image tag): the private podman service and the image built from sandbox-image/."""
    missing = [tool for tool in CONTAINER_TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"the docker backend needs {', '.join(missing)}: "
            "apt-get install podman debootstrap runc slirp4netns uidmap catatonit"
        )
    service = server_dir / "podman-service.sh"
    build = server_dir / "build-image.sh"
    if not service.is_file() or not build.is_file():
        pytest.skip("sandbox-image/podman-service.sh or build-image.sh is missing")
    was_running = subprocess.run([str(service), "status"], check=False).returncode == 0
    # The service's working directory gets conmon's `oom` marker files when a container is OOM-killed
    # (the memory test does that): start it from a scratch directory, not the repository.
    scratch = tmp_path_factory.mktemp("podman-cwd")
    subprocess.run([str(service), "start"], check=True, timeout=60, cwd=scratch)
    try:
        env_lines = subprocess.run([str(service), "env"], capture_output=True, text=True, check=True).stdout
        env = dict(line.split("=", 1) for line in env_lines.splitlines() if "=" in line)
        built = subprocess.run([str(build)], capture_output=True, text=True, timeout=900, check=False)
        assert built.returncode == 0, f"build-image.sh failed: {built.stderr[-3000:]}"
        yield env["DOCKER_HOST"], built.stdout.strip().splitlines()[-1]
    finally:
        if not was_running:
            subprocess.run([str(service), "stop"], check=False, timeout=120)

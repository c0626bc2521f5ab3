"""The image builds from sandbox-image/Dockerfile with podman on the local base, runs, and serves /health.

The base (debootstrap, ~60 s) and the built image are cached in the private podman store across runs,
so a warm run costs a few seconds.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.sandbox_server.harness import SANDBOX_IMAGE, call

MISSING = [tool for tool in ("podman", "debootstrap", "runc", "slirp4netns") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING),
    reason=f"needs {', '.join(MISSING)}: apt-get install podman debootstrap runc slirp4netns uidmap",
)

SERVICE = str(SANDBOX_IMAGE / "podman-service.sh")


def podman(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [SERVICE, "podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def image() -> str:
    done = subprocess.run(
        [str(SANDBOX_IMAGE / "build-image.sh")], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def running(image: str) -> Iterator[tuple[str, str, str]]:
    secret = secrets.token_urlsafe(24)
    port = free_port()
    cid = podman(
        "run", "-d", "--rm", "--network", "slirp4netns", "-p", f"127.0.0.1:{port}:8080",
        "-e", f"SANDBOX_SECRET={secret}", "--label", "riadex.test=sandbox-image", "--memory", "512m", image,
    )  # fmt: skip
    try:
        yield cid, f"http://127.0.0.1:{port}", secret
    finally:
        podman("rm", "-f", "-t", "0", cid)


@pytest.fixture
def container(image: str) -> Iterator[tuple[str, str, str]]:
    with running(image) as started:
        yield started


def wait_healthy(url: str, secret: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {secret}"}, timeout=5)
            if response.status_code == 200:
                data: dict[str, object] = response.json()["data"]
                return data
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"the container never became healthy: {last}")


def test_the_built_image_serves_the_tool_api_as_a_non_root_user(
    image: str, container: tuple[str, str, str]
) -> None:
    cid, url, secret = container

    health = wait_healthy(url, secret)

    assert health["status"] == "ok"
    assert health["workspace"] == "/workspace"
    assert health["browser"] is False  # the test build is WITH_BROWSER=0
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as client:
        result = call(client, "/shell/exec", session_id="img", command="id -un; pwd; cat /proc/1/comm")
        assert result["output"] == "sandbox\n/workspace\ntini\n"
        assert httpx.get(f"{url}/health", timeout=5).status_code == 401
    assert podman("healthcheck", "run", cid) == ""
    labels = podman("image", "inspect", "--format", '{{index .Labels "riadex.source-hash"}}', image)
    assert len(labels) == 16


def test_the_podman_service_speaks_the_docker_api(image: str) -> None:
    was_running = subprocess.run([SERVICE, "status"], check=False).returncode == 0
    subprocess.run([SERVICE, "start"], check=True, timeout=60)
    try:
        with running(image) as (cid, _, _):
            assert cid in docker_containers()
    finally:
        if not was_running:  # only what this test started, and its container is gone by now
            subprocess.run([SERVICE, "stop"], check=True, timeout=60)


def docker_containers() -> set[str]:
    """Container ids the Docker-compatible API lists with the test label."""
    env = dict(
        line.split("=", 1) for line in subprocess.check_output([SERVICE, "env"], text=True).splitlines()
    )
    assert env["DOCKER_HOST"].startswith("unix://")
    transport = httpx.HTTPTransport(uds=env["DOCKER_HOST"].removeprefix("unix://"))
    with httpx.Client(transport=transport, base_url="http://docker", timeout=30) as docker:
        assert docker.get("/_ping").text == "OK"
        listed = docker.get(
            "/containers/json", params={"filters": '{"label": ["riadex.test=sandbox-image"]}'}
        )
        return {c["Id"] for c in listed.json()}

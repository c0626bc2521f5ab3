"""What the sam local tests share: the build, a podman service and the stand-in image, sam's processes.

The podman is the project's own (sandbox-image/podman-service.sh) on a store of its own,
RIADEX_SAM_PODMAN_DIR (default /var/tmp/riadex-podman-sam): the local stack's shutdown removes every
sandbox container of its engine, which must not touch other suites' (the docker backend's) sandboxes.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.packaging.build import ROOT, build

SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
PODMAN_SERVICE = ROOT / "sandbox-image" / "podman-service.sh"
REQUIRES = [
    pytest.mark.skipif(os.environ.get("RIADEX_SAM_TEST") != "1", reason="make sam-test runs it (README)"),
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman (make system-deps)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sam local here needs root (rootful podman)"),
]
PODMAN_DIR = os.environ.get("RIADEX_SAM_PODMAN_DIR", "/var/tmp/riadex-podman-sam")
PARAMETERS = "VpcId=vpc-0local SubnetIds=subnet-0local SandboxImageUri=riadex-sandbox:dev"


@pytest.fixture(scope="session")
def sam_env() -> dict[str, str]:
    build()
    env = dict(os.environ, SAM_CLI_TELEMETRY="0", RIADEX_PODMAN_DIR=PODMAN_DIR)
    subprocess.run([str(PODMAN_SERVICE), "start"], check=True, timeout=120, env=env)
    printed = subprocess.run(
        [str(PODMAN_SERVICE), "env"], env=env, check=True, capture_output=True, text=True
    ).stdout
    for line in printed.split():
        key, _, value = line.partition("=")
        env[key] = value.strip("'\"")
    subprocess.run([str(ROOT / "sandbox-image" / "build-lambda-base.sh")], check=True, timeout=900, env=env)
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def sam_server(
    env: dict[str, str], log: Path, *args: str, probe: str, timeout: float = 300
) -> Iterator[float]:
    """`sam local <args>` until the block ends (SIGINT to its process group), its output in `log`;
    yields the seconds it took for `probe` to answer at all."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(SAM), "local", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        started = time.monotonic()
        while True:
            assert process.poll() is None, log.read_text()[-5000:]
            try:
                httpx.get(probe, timeout=120)
                break
            except httpx.TransportError:
                assert time.monotonic() - started < timeout, (
                    f"sam local {args[0]} did not listen in {timeout} s"
                )
                time.sleep(0.2)
        yield time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

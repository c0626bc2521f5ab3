"""The local stack started the way `make dev` starts it (`python -m riadex.entrypoints.local`), on a
free port with a throwaway data dir, driven over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STREAM_MAX_SECONDS = 3  # short, so that tests see the server rotate streams with `reconnect`


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Stack:
    base: str
    process: subprocess.Popen[bytes]

    def user(self, name: str = "e2e") -> tuple[str, dict[str, str]]:
        token = httpx.post(f"{self.base}/api/v1/users", json={"name": name}).json()["data"]["token"]
        return str(token), {"Authorization": f"Bearer {token}"}

    def session(self, auth: dict[str, str]) -> str:
        return str(httpx.put(f"{self.base}/api/v1/sessions", headers=auth).json()["data"]["session_id"])


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "MOTO_")) and key not in {"DYNAMODB_ENDPOINT", "STATE_MACHINE_ARN"}
    }
    env.update(
        PORT=str(port),
        RIADEX_DATA_DIR=str(tmp_path_factory.mktemp("riadex-data")),
        PYTHONPATH=str(ROOT / "layers" / "core"),
        STREAM_MAX_SECONDS=str(STREAM_MAX_SECONDS),
        STREAM_POLL_IDLE_MAX_SECONDS="0.5",
    )
    log = tmp_path_factory.mktemp("riadex-log") / "stack.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "riadex.entrypoints.local"], cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the local stack exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Stack(base=base, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

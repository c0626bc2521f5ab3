"""Start the sandbox tool server as a real child process and talk to it over HTTP (tests and bench)."""

from __future__ import annotations

import os
import secrets
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[3]
SANDBOX_IMAGE = ROOT / "sandbox-image"


class ToolServer:
    def __init__(self, workspace: Path, **env: str) -> None:
        self.workspace = workspace
        self.secret = secrets.token_urlsafe(24)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")},
            "PYTHONPATH": str(SANDBOX_IMAGE),
            "SANDBOX_SECRET": self.secret,
            "SANDBOX_HOST": "127.0.0.1",
            "SANDBOX_PORT": "0",
            "SANDBOX_WORKSPACE": str(workspace),
            "SANDBOX_BROWSER": "0",
            "SANDBOX_VNC": "0",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = workspace.parent / f"{workspace.name}-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ToolServer:
        self.workspace.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox_server"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=self.workspace.parent,
        )
        log.close()
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            ready, _, _ = select.select([self.process.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 256)
                if not chunk:
                    break
                line += chunk
        text = line.decode().strip()
        if not text.startswith("SANDBOX_READY port="):
            self.stop()
            raise RuntimeError(f"tool server did not start ({text!r}); log:\n{self.log()}")
        self.port = int(text.split("=", 1)[1])
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def client(self, secret: str | None = None, timeout: float = 60) -> httpx.Client:
        token = self.secret if secret is None else secret
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


def call(client: httpx.Client, path: str, /, **body: Any) -> dict[str, Any]:
    """POST a JSON body and return `data`, failing loudly with the server's error when not ok."""
    response = client.post(path, json=body)
    payload = response.json()
    if response.status_code != 200 or not payload["ok"]:
        raise AssertionError(f"{path}: {response.status_code} {payload}")
    data: dict[str, Any] = payload["data"]
    return data


def error(client: httpx.Client, path: str, /, **body: Any) -> tuple[int, str]:
    """POST and return (status, error code) for a call that must fail."""
    response = client.post(path, json=body)
    payload = response.json()
    assert payload["ok"] is False, f"{path} unexpectedly succeeded: {payload}"
    return response.status_code, payload["error"]["code"]

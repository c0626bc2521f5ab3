"""The local stack started the way `make dev` starts it (`python -m riadex.entrypoints.local`), on a
free port with a throwaway data dir, driven over real HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.e2e.stack import running_stack

STREAM_MAX_SECONDS = 3  # short, so that tests see the server rotate streams with `reconnect`
ALLOWED_ORIGIN = "http://app.riadex.test"  # CORS_ORIGINS of the shared stack
INLINE_UPLOAD_MAX_BYTES = 256 * 1024
DOWNLOAD_REDIRECT_BYTES = 512 * 1024
MAX_UPLOAD_BYTES = 4 * 1024 * 1024


@dataclass
class Stack:
    base: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    """What the stack printed (its ready line names the web client and the local DynamoDB)."""

    def user(self, name: str = "e2e") -> tuple[str, dict[str, str]]:
        token = httpx.post(f"{self.base}/api/v1/users", json={"name": name}).json()["data"]["token"]
        return str(token), {"Authorization": f"Bearer {token}"}

    def session(self, auth: dict[str, str]) -> str:
        return str(httpx.put(f"{self.base}/api/v1/sessions", headers=auth).json()["data"]["session_id"])


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("riadex-data")
    with running_stack(
        data_dir,
        STREAM_MAX_SECONDS=str(STREAM_MAX_SECONDS),
        STREAM_POLL_IDLE_MAX_SECONDS="0.5",
        CORS_ORIGINS=ALLOWED_ORIGIN,
        # Small, so that tests/e2e/test_large_files.py sees the AWS limits at small sizes.
        INLINE_UPLOAD_MAX_BYTES=str(INLINE_UPLOAD_MAX_BYTES),
        DOWNLOAD_REDIRECT_BYTES=str(DOWNLOAD_REDIRECT_BYTES),
        MAX_UPLOAD_BYTES=str(MAX_UPLOAD_BYTES),
    ) as started:
        yield Stack(base=started.url, process=started.process, output=started.output)

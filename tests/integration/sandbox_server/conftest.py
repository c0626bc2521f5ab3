"""A tool server process shared by a module's tests (each test uses its own shell session ids/files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.sandbox_server.harness import ToolServer


@pytest.fixture(scope="module")
def tool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolServer]:
    server = ToolServer(tmp_path_factory.mktemp("sandbox") / "workspace", SANDBOX_MAX_UPLOAD="1048576")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(tool_server: ToolServer) -> Iterator[httpx.Client]:
    with tool_server.client() as c:
        yield c


@pytest.fixture
def workspace(tool_server: ToolServer) -> Path:
    return tool_server.workspace

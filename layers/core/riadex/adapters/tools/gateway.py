"""ToolGateway over HTTP: a tool function name in, the tool server's data out."""

from __future__ import annotations

from typing import Any

from riadex.adapters.tools import server
from riadex.adapters.tools.schemas import function_named
from riadex.domain.errors import InvalidInput
from riadex.domain.sandboxes import SandboxHandle

TIMEOUT_MARGIN_SECONDS = 15.0
BROWSER_TIMEOUT_SECONDS = 90.0


class HttpToolGateway:
    def __init__(self, timeout_seconds: float = server.DEFAULT_TIMEOUT) -> None:
        self.timeout_seconds = timeout_seconds
        """How long a call may go unanswered (SANDBOX_TOOL_TIMEOUT), unless its own limit is longer."""

    def call(self, handle: SandboxHandle, function: str, args: dict[str, Any]) -> dict[str, Any]:
        spec = function_named(function)
        if spec is None:
            raise InvalidInput(f"unknown tool function: {function}")
        timeout = self.timeout_seconds
        if spec.tool == "browser":
            timeout = max(timeout, BROWSER_TIMEOUT_SECONDS)
        if spec.timeout_arg is not None:
            own = args.get(spec.timeout_arg)
            # Without its own `timeout`, the tool server waits for a command this long (API.md).
            own_seconds = float(own) if isinstance(own, int | float) else server.DEFAULT_TIMEOUT
            timeout = max(timeout, own_seconds + TIMEOUT_MARGIN_SECONDS)
        return server.request(
            handle, "POST", spec.path, json=args, timeout=timeout, idempotent=spec.idempotent
        )

    def upload(self, handle: SandboxHandle, path: str, name: str, data: bytes) -> dict[str, Any]:
        return server.request(
            handle,
            "POST",
            "/file/upload",
            files={"file": (name, data, "application/octet-stream")},
            form={"path": path},
            timeout=120.0,
        )

    def download(self, handle: SandboxHandle, path: str) -> bytes:
        return server.download(handle, path)


class HttpWorkspaceTransfer:
    """WorkspaceTransfer over the tool server's /workspace routes."""

    def stamp(self, handle: SandboxHandle) -> dict[str, Any]:
        return server.request(handle, "GET", "/workspace/stamp", idempotent=True)

    def archive(self, handle: SandboxHandle, max_bytes: int) -> tuple[bytes, str, int]:
        return server.workspace_archive(handle, max_bytes)

    def restore(self, handle: SandboxHandle, data: bytes) -> dict[str, Any]:
        return server.workspace_restore(handle, data)

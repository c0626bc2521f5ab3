"""HTTP client of one sandbox's tool server (sandbox-image/API.md): auth, envelope, errors, retries.

Errors are translated once, here: no answer at all → SandboxUnreachable (the sandbox is gone); a call
the server took and never answered in time → SandboxHung; the server's 404 → NotFound; its other 4xx
→ InvalidInput with the server's code; its 5xx or a connect timeout → Unavailable. Only idempotent
calls are resent after a transport error; a command is never run twice, and a call that already had
its whole time is not given it again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from riadex.adapters import call_record
from riadex.application.sandbox_ports import SandboxHung, SandboxUnreachable
from riadex.domain.errors import InvalidInput, NotFound, TooLarge, Unavailable
from riadex.domain.sandboxes import SandboxHandle

DEFAULT_TIMEOUT = 30.0
CONNECT_TIMEOUT = 5.0
READ_RETRIES = 2


_pool_lock = threading.Lock()
_pool: httpx.Client | None = None


def _shared() -> httpx.Client:
    """One pooled client for every sandbox: building a client costs ~10 ms (its SSL context), more than
    a whole tool-server round trip, and keep-alive connections save the TCP handshake per call."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = httpx.Client(
                # Connection-level retries only: a refused connect means the request never left.
                transport=httpx.HTTPTransport(retries=1),
                trust_env=False,
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            )
        return _pool


def _send(
    handle: SandboxHandle,
    method: str,
    path: str,
    timeout: float,
    headers_extra: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    call_record.tool_call(handle.endpoint, method, path)
    return _shared().request(
        method,
        handle.endpoint + path,
        headers={"Authorization": f"Bearer {handle.secret}", **(headers_extra or {})},
        timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
        **kwargs,
    )


def _raise_for(response: httpx.Response) -> None:
    try:
        body = response.json()
        error = body.get("error") or {}
        code, message = str(error.get("code", "error")), str(error.get("message", "tool server error"))
        # The tool server's own error envelope: the sandbox is up and this is the tool's answer (a site
        # that refuses the browser, a browser action that timed out), for the model to read.
        answered = body.get("ok") is False and isinstance(body.get("error"), dict)
    except (ValueError, AttributeError):
        code, message = "error", f"tool server answered HTTP {response.status_code}"
        answered = False
    status = response.status_code
    if status == 404:
        raise NotFound(message, {"code": code})
    if status == 413:
        raise TooLarge(message, {"code": code})
    if status == 401:
        # Our own secret was refused: whatever answers there is not this session's sandbox.
        raise SandboxUnreachable("the sandbox refused its secret")
    if 400 <= status < 500:
        raise InvalidInput(message, {"code": code})
    raise Unavailable(message, {"code": code}, retryable=status in (502, 503, 504) and not answered)


def _data(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        _raise_for(response)
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def request(
    handle: SandboxHandle,
    method: str,
    path: str,
    *,
    json: dict[str, Any] | None = None,
    files: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    idempotent: bool = False,
) -> dict[str, Any]:
    attempts = 1 + (READ_RETRIES if idempotent else 0)
    for attempt in range(attempts):
        try:
            response = _send(handle, method, path, timeout, json=json, files=files, data=form)
            return _data(response)
        except httpx.ReadTimeout:
            raise SandboxHung(f"the sandbox did not answer within {timeout:g} s") from None
        except httpx.TimeoutException:
            if attempt + 1 < attempts:
                continue
            raise Unavailable("the sandbox did not answer in time", retryable=True) from None
        except httpx.TransportError as exc:
            # Refused, reset or cut mid-answer: nobody is serving there any more.
            if attempt + 1 < attempts:
                time.sleep(0.1 * (attempt + 1))
                continue
            raise SandboxUnreachable(str(exc) or type(exc).__name__) from None
    raise AssertionError("unreachable")  # pragma: no cover


def health(handle: SandboxHandle, timeout: float = 3.0) -> dict[str, Any] | None:
    """The server's /health data, or None if it does not answer or refuses this handle's secret."""
    try:
        return request(handle, "GET", "/health", timeout=timeout)
    except (SandboxUnreachable, Unavailable, InvalidInput, NotFound):
        return None


def wait_healthy(handle: SandboxHandle, deadline: float, alive: Any = None) -> bool:
    """Poll /health until it answers, `alive()` says the sandbox died, or time.monotonic() > deadline."""
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        if health(handle, timeout=2.0) is not None:
            return True
        time.sleep(0.05)
    return False


def download(handle: SandboxHandle, file: str, timeout: float = 60.0) -> bytes:
    try:
        response = _send(handle, "GET", "/file/download", timeout, params={"file": file})
    except httpx.TimeoutException:
        raise Unavailable("the sandbox did not answer in time", retryable=True) from None
    except httpx.TransportError as exc:
        raise SandboxUnreachable(str(exc) or type(exc).__name__) from None
    if response.status_code >= 400:
        _raise_for(response)
    return response.content


WORKSPACE_TIMEOUT = 600.0


def workspace_archive(handle: SandboxHandle, max_bytes: int) -> tuple[bytes, str, int]:
    """(the workspace as .tar.gz, its stamp, its bytes); TooLarge above `max_bytes`."""
    try:
        response = _send(
            handle, "GET", "/workspace/archive", WORKSPACE_TIMEOUT, params={"max_bytes": max_bytes}
        )
    except httpx.TimeoutException:
        raise Unavailable("the sandbox did not answer in time", retryable=True) from None
    except httpx.TransportError as exc:
        raise SandboxUnreachable(str(exc) or type(exc).__name__) from None
    if response.status_code >= 400:
        _raise_for(response)
    return (
        response.content,
        response.headers.get("X-Workspace-Stamp", ""),
        int(response.headers.get("X-Workspace-Bytes", "0")),
    )


def workspace_restore(handle: SandboxHandle, data: bytes) -> dict[str, Any]:
    try:
        response = _send(
            handle, "PUT", "/workspace/archive", WORKSPACE_TIMEOUT, content=data,
            headers_extra={"Content-Type": "application/gzip"},
        )  # fmt: skip
    except httpx.TimeoutException:
        raise Unavailable("the sandbox did not answer in time", retryable=True) from None
    except httpx.TransportError as exc:
        raise SandboxUnreachable(str(exc) or type(exc).__name__) from None
    return _data(response)

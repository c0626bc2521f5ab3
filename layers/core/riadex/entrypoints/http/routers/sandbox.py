"""Views into a session's sandbox (docs/api.md): its shell console, a file, and its screen over VNC.

Views never start a sandbox; without one they answer 409 and say so. Another user's session is 404.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from riadex.application.sessions import get_owned_session
from riadex.domain.errors import Conflict, DomainError, Unavailable
from riadex.domain.models import iso
from riadex.entrypoints.http.dependencies import ContainerDep, StreamUserId, UserId
from riadex.entrypoints.http.sandbox_schemas import (
    FileViewIn,
    FileViewOut,
    ShellViewIn,
    ShellViewOut,
    VncOut,
    console_of,
)
from riadex.entrypoints.http.schemas import Envelope

router = APIRouter(prefix="/sessions", tags=["sandbox"])

VNC_POLICY_VIOLATION = 1008


@router.post("/{session_id}/shell", summary="View a shell session of the session's sandbox")
def view_shell(
    session_id: str, body: ShellViewIn, user_id: UserId, container: ContainerDep
) -> Envelope[ShellViewOut]:
    get_owned_session(user_id, session_id, container.sessions)
    data = container.sandboxes.view(session_id, "shell_view", {"session_id": body.session_id})
    return Envelope(data=ShellViewOut(output=str(data.get("output", "")), console=console_of(data)))


@router.post("/{session_id}/file", summary="View a file in the session's sandbox")
def view_file(
    session_id: str, body: FileViewIn, user_id: UserId, container: ContainerDep
) -> Envelope[FileViewOut]:
    get_owned_session(user_id, session_id, container.sessions)
    data = container.sandboxes.view(session_id, "file_read", {"file": body.file})
    return Envelope(
        data=FileViewOut(file=str(data.get("file", body.file)), content=str(data.get("content", "")))
    )


@router.get("/{session_id}/vnc", summary="A short-lived URL for the sandbox's VNC WebSocket")
def vnc_url(
    session_id: str, request: Request, user_id: StreamUserId, container: ContainerDep
) -> Envelope[VncOut]:
    get_owned_session(user_id, session_id, container.sessions)
    settings = container.settings
    if settings.sandbox_backend == "process" and not settings.sandbox_vnc:
        raise Conflict(
            "VNC is off: start the server with SANDBOX_VNC=true (it needs Xvfb and x11vnc) to see the "
            "sandbox's screen; a sandbox started before that keeps no display, so send a new message "
            "or delete the session to get a new one"
        )
    if container.vnc_tokens is None:
        raise Unavailable("the VNC proxy is served by the local server only")
    container.sandboxes.ready_handle(session_id)
    token, expires = container.vnc_tokens.issue(user_id, session_id)
    base = str(request.base_url).rstrip("/")
    ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    url = f"{ws_base}{request.url.path}?token={quote(token)}"
    return Envelope(data=VncOut(url=url, expires_at=iso(expires)))


@router.websocket("/{session_id}/vnc")
async def vnc_proxy(websocket: WebSocket, session_id: str) -> None:
    """Bridge the client's WebSocket to the sandbox's /vnc (binary RFB frames both ways)."""
    container = websocket.app.state.container
    token = websocket.query_params.get("token", "")
    try:
        if container.vnc_tokens is None:
            raise Unavailable("the VNC proxy is not available")
        owner = container.vnc_tokens.verify(token, session_id)
        get_owned_session(owner, session_id, container.sessions)
        handle = await run_in_threadpool(container.sandboxes.ready_handle, session_id)
    except DomainError:
        await websocket.close(code=VNC_POLICY_VIOLATION)
        return

    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    offered = websocket.scope.get("subprotocols") or []
    subprotocol = "binary" if "binary" in offered else None
    upstream_url = f"ws{handle.endpoint[4:]}/vnc?token={quote(handle.secret)}"
    try:
        upstream_cm = connect(
            upstream_url,
            subprotocols=[subprotocol] if subprotocol else None,  # type: ignore[list-item]
            max_size=None,
            open_timeout=10,
            proxy=None,
        )
        upstream = await upstream_cm.__aenter__()
    except (OSError, WebSocketException, TimeoutError):
        await websocket.close(code=1011)
        return
    try:
        await websocket.accept(subprotocol=subprotocol)

        async def downstream() -> None:
            async for message in upstream:
                if isinstance(message, bytes):
                    await websocket.send_bytes(message)
                else:
                    await websocket.send_text(message)

        async def upstream_pump() -> None:
            while True:
                message: MutableMapping[str, Any] = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    await upstream.send(message["bytes"])
                elif message.get("text") is not None:
                    await upstream.send(message["text"])

        tasks = [asyncio.ensure_future(downstream()), asyncio.ensure_future(upstream_pump())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(
                asyncio.CancelledError, WebSocketException, WebSocketDisconnect, RuntimeError
            ):
                await task
    finally:
        await upstream_cm.__aexit__(None, None, None)
        with contextlib.suppress(RuntimeError):
            await websocket.close()

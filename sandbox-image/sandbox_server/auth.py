"""Bearer-secret check on every HTTP request and WebSocket handshake, plus the idle clock's touch.

A pure ASGI middleware so the WebSocket route is covered by the same code as the JSON routes.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox_server.activity import Activity
from sandbox_server.errors import error_response

#: Requests that do not count as activity: a control plane polling health must not keep a sandbox alive.
PASSIVE_PATHS = frozenset({"/health"})


def presented_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                return str(token).strip()
    if scope["type"] == "websocket":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        tokens = query.get("token")
        if tokens:
            return str(tokens[0])
    return None


async def deny_websocket(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, msg: str
) -> None:
    """Answer a WebSocket handshake with a real HTTP error when the server supports it, else close."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await error_response(status, code, msg)(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": code})


class BearerAuth:
    def __init__(self, app: ASGIApp, secret_digest: bytes, activity: Activity) -> None:
        self.app = app
        self.secret_digest = secret_digest
        self.activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = presented_token(scope)
        presented = hashlib.sha256(token.encode()).digest() if token is not None else b""
        if token is None or not hmac.compare_digest(presented, self.secret_digest):
            message = "missing bearer secret" if token is None else "wrong bearer secret"
            if scope["type"] == "websocket":
                await deny_websocket(scope, receive, send, 401, "unauthorized", message)
            else:
                await error_response(401, "unauthorized", message)(scope, receive, send)
            return
        if scope.get("path") in PASSIVE_PATHS:
            await self.app(scope, receive, send)
            return
        self.activity.begin()
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.end()

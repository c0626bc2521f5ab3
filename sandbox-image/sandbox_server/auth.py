"""Bearer-secret check on every HTTP request and WebSocket handshake, plus the idle clock's touch.

A pure ASGI middleware so the WebSocket route is covered by the same code as the JSON routes.

A pooled server (started with SANDBOX_POOL_TOKEN_SHA256, no secret: a warm Fargate task nobody owns
yet) takes its pool token on `/health` and `POST /claim` only; the claim installs the session's secret
and the pool token stops working (`Credentials.claim`, one swap with no await in between, so two
claims with the same token cannot both win).
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
#: What the pool token opens before the claim. Its health checks do count as activity: the pool's
#: keeper renews the lease that way, and a pool whose control plane is gone stops by its idle timer.
POOL_PATHS = frozenset({"/health", "/claim"})


class Credentials:
    """The digests a request may present: the session's secret once there is one; before that (a
    pooled server), the pool token."""

    def __init__(self, secret_digest: bytes | None, pool_digest: bytes | None = None) -> None:
        if (secret_digest is None) == (pool_digest is None):
            raise ValueError("exactly one of a secret and a pool token")
        self.secret_digest = secret_digest
        self.pool_digest = pool_digest

    def is_secret(self, presented: bytes) -> bool:
        return self.secret_digest is not None and hmac.compare_digest(presented, self.secret_digest)

    def is_pool_token(self, presented: bytes) -> bool:
        return self.pool_digest is not None and hmac.compare_digest(presented, self.pool_digest)

    def claim(self, presented: bytes, secret_digest: bytes) -> bool:
        """Install the session's secret if `presented` is the (still unused) pool token."""
        if not self.is_pool_token(presented):
            return False
        self.secret_digest, self.pool_digest = secret_digest, None
        return True


def token_digest(scope: Scope) -> bytes | None:
    token = presented_token(scope)
    return hashlib.sha256(token.encode()).digest() if token is not None else None


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
    def __init__(self, app: ASGIApp, credentials: Credentials, activity: Activity) -> None:
        self.app = app
        self.credentials = credentials
        self.activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        presented = token_digest(scope)
        refusal: tuple[int, str, str] | None = None
        pooled = presented is not None and self.credentials.is_pool_token(presented)
        if pooled and scope.get("path") not in POOL_PATHS:
            refusal = (403, "unclaimed", "this sandbox is not claimed yet: the pool token opens /claim only")
        elif presented is None:
            refusal = (401, "unauthorized", "missing bearer secret")
        elif not pooled and not self.credentials.is_secret(presented):
            refusal = (401, "unauthorized", "wrong bearer secret")
        if refusal is not None:
            if scope["type"] == "websocket":
                await deny_websocket(scope, receive, send, *refusal)
            else:
                await error_response(*refusal)(scope, receive, send)
            return
        if scope.get("path") in PASSIVE_PATHS and not pooled:
            await self.app(scope, receive, send)
            return
        self.activity.begin()
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.end()

"""A cap on request bodies, enforced before anything parses them (413 in the envelope)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Refuses a body over `max_bytes`.

    With Content-Length the check is immediate (the server holds the body to that length). Without it
    (chunked), the body is read here up to the cap and then replayed to the app: errors raised from
    inside `receive` would be turned into a generic 400 by the framework's body parsing.

    `overrides` give the paths matching a pattern their own cap (file uploads are far larger than any
    JSON body, and are refused just as early when over theirs).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = [(re.compile(pattern), cap) for pattern, cap in overrides]

    def _cap_for(self, path: str) -> int:
        return next((cap for pattern, cap in self.overrides if pattern.match(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self._cap_for(scope.get("path", ""))
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _refuse(send, 400, "Content-Length is malformed")
            elif int(length) > cap:
                await _refuse(send, 413, _too_large(cap))
            else:
                await self.app(scope, receive, send)
            return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > cap:
                await _refuse(send, 413, _too_large(cap))
                return
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _too_large(cap: int) -> str:
    return f"request body is larger than {cap} bytes"


async def _refuse(send: Send, status: int, msg: str) -> None:
    body = json.dumps({"code": status, "msg": msg, "data": None}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class JsonContentType:
    """Refuses a request body that does not say it is JSON (415, naming the header).

    Without this, a body sent without `Content-Type: application/json` reaches the route as no body at
    all and fails as "Input should be a valid dictionary", which does not tell the client what to fix.
    Requests without a body (most POSTs that only act, like cancel) pass, and so do the paths matching
    `exempt` (multipart uploads, which check their own type).
    """

    def __init__(self, app: ASGIApp, exempt: Sequence[str] = ()) -> None:
        self.app = app
        self.exempt = [re.compile(pattern) for pattern in exempt]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in {"POST", "PUT", "PATCH"}:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        has_body = (length is not None and length not in (b"0", b"")) or (
            length is None and b"transfer-encoding" in headers
        )
        path = scope.get("path", "")
        if not has_body or any(pattern.match(path) for pattern in self.exempt):
            await self.app(scope, receive, send)
            return
        media_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
        if media_type == b"application/json" or (
            media_type.startswith(b"application/") and media_type.endswith(b"+json")
        ):
            await self.app(scope, receive, send)
            return
        shown = media_type.decode("latin-1") or "none"
        await _refuse(
            send, 415, f"send the body as JSON with the header Content-Type: application/json (got {shown})"
        )

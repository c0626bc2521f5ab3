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

"""The API's side of the template tier's recording (riadex.adapters.call_record): each request is an
entry point, `http <METHOD> <path>`, and its body sizes, status and duration are recorded (API Gateway
caps a REST body at 10 MB, a Lambda payload at 6 MB and a non-streaming integration at 29 s)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riadex.adapters import call_record


class RecordEntry:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        path = scope.get("path", "")
        sizes = {"request_bytes": 0, "response_bytes": 0}
        answer: dict[str, object] = {"status": None, "streaming": False}
        started = time.monotonic()

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                sizes["request_bytes"] += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                headers = dict(message.get("headers") or [])
                answer["streaming"] = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            elif message["type"] == "http.response.body":
                sizes["response_bytes"] += len(message.get("body", b""))
            await send(message)

        with call_record.entry(f"http {method} {path}"):
            try:
                await self.app(scope, counting_receive, counting_send)
            finally:
                call_record.payload(
                    "http",
                    method=method,
                    path=path,
                    seconds=round(time.monotonic() - started, 3),
                    **sizes,
                    **answer,
                )

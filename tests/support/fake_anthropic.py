"""A local server speaking Anthropic's Messages API, for the real `anthropic` SDK to talk to.

`POST /v1/messages` with `"stream": true` answers with the named SSE events of the real API:
`message_start` (id, input tokens), a `ping`, per block `content_block_start` / `content_block_delta`
(`text_delta`, or `input_json_delta` pieces of a `tool_use` block's input) / `content_block_stop`, then
`message_delta` (stop reason, output tokens) and `message_stop`. A `Failure` is an HTTP error with
Anthropic's error body (`{"type": "error", "error": {"type", "message"}}`).
"""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any

from tests.support.http_server import LocalHTTPServer, QuietHandler
from tests.support.llm_script import Failure, Reply, Responder, Script, split
from tests.support.sse import send_events, start_stream

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def stream_events(reply: Reply, model: str) -> list[tuple[str | None, Any]]:
    message = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
    }
    events: list[tuple[str | None, Any]] = [
        ("message_start", {"type": "message_start", "message": message}),
        ("ping", {"type": "ping"}),
    ]
    index = 0
    if reply.text:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        for piece in split(reply.text, -(-len(reply.text) // reply.text_chunk)):
            delta = {"type": "text_delta", "text": piece}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    for call in reply.tool_calls:
        block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})
        )
        arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        for piece in split(arguments, reply.argument_pieces):
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(
                ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    stop = "tool_use" if reply.tool_calls else "end_turn"
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": reply.output_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    if reply.error_after is not None:
        error = {"type": "error", "error": {"type": reply.error_type, "message": "Overloaded"}}
        events = [*events[: reply.error_after], ("error", error)]
    return events


class _Handler(QuietHandler):
    def do_POST(self) -> None:
        script: Script = self.server.owner.script  # type: ignore[attr-defined]
        if self.path.split("?")[0].rstrip("/") != "/v1/messages":
            self.send_json(
                404, {"type": "error", "error": {"type": "not_found_error", "message": "no route"}}
            )
            return
        body = self.read_json()
        item = script.next_item(body, {k.lower(): v for k, v in self.headers.items()})
        if isinstance(item, Failure):
            error_type = item.error_type or _ERROR_TYPES.get(item.status, "api_error")
            payload = {"type": "error", "error": {"type": error_type, "message": item.message}}
            self.send_json(
                item.status, payload, {"request-id": f"req_{uuid.uuid4().hex[:12]}", **item.headers}
            )
            return
        if not body.get("stream"):
            self.send_json(
                400, {"type": "error", "error": {"type": "invalid_request_error", "message": "stream only"}}
            )
            return
        start_stream(self)
        send_events(self, script, stream_events(item, str(body.get("model", "fake-model"))), item.delay)


class FakeAnthropic:
    def __init__(self, responder: Responder | None = None) -> None:
        self.script = Script(responder)
        self._server = LocalHTTPServer(_Handler, owner=self)

    @property
    def base_url(self) -> str:
        """What ANTHROPIC_BASE_URL should be (the SDK adds /v1/messages)."""
        return self._server.url

    def __enter__(self) -> FakeAnthropic:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()

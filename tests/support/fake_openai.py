"""A local server speaking OpenAI's Chat Completions API, for the real `openai` SDK to talk to.

`POST /v1/chat/completions` answers from a `Script` (see `llm_script`): with `"stream": true`, as
`chat.completion.chunk` SSE frames (role, text deltas, tool call deltas split across chunks with their
`index`, a finish chunk, a usage chunk when `stream_options.include_usage`, then `data: [DONE]`); without
it, one `chat.completion`. A `Failure` is an HTTP error with OpenAI's error body.

    with FakeOpenAI() as fake:
        fake.script.enqueue(Reply(tool_calls=[ScriptedToolCall("file_write", {...})]), Reply(text="done"))
        client = openai.OpenAI(base_url=fake.base_url, api_key="k")
"""

from __future__ import annotations

import json
import time
import uuid
from types import TracebackType
from typing import Any

from tests.support.http_server import LocalHTTPServer, QuietHandler
from tests.support.llm_script import Failure, Reply, Responder, Script, split
from tests.support.sse import send_events, start_stream


def chunk_events(reply: Reply, model: str, include_usage: bool) -> list[tuple[str | None, Any]]:
    chunk_id = f"chatcmpl-{uuid.uuid4().hex[:12]}"
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
        return None, {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    events: list[tuple[str | None, Any]] = [chunk({"role": "assistant", "content": ""})]
    if reply.text:
        events += [
            chunk({"content": piece}) for piece in split(reply.text, -(-len(reply.text) // reply.text_chunk))
        ]
    for index, call in enumerate(reply.tool_calls):
        arguments = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        events += [
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in split(arguments, reply.argument_pieces)
        ]
    events.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if include_usage:
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        events.append((None, {**events[-1][1], "choices": [], "usage": usage}))
    events.append((None, "[DONE]"))
    if reply.error_after is not None:
        error = {
            "message": "The server had an error while processing your request.",
            "type": reply.error_type,
        }
        events = [*events[: reply.error_after], (None, {"error": error})]
    return events


def completion_body(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments),
                },
            }
            for c in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if reply.tool_calls else "stop"}
        ],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
    }


class _Handler(QuietHandler):
    def do_POST(self) -> None:
        script: Script = self.server.owner.script  # type: ignore[attr-defined]
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_json(
                404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}}
            )
            return
        body = self.read_json()
        item = script.next_item(body, {k.lower(): v for k, v in self.headers.items()})
        if isinstance(item, Failure):
            error = {
                "message": item.message,
                "type": item.error_type or "invalid_request_error",
                "param": None,
            }
            error["code"] = item.code
            self.send_json(item.status, {"error": error}, item.headers)
            return
        model = str(body.get("model", "fake-model"))
        if not body.get("stream"):
            self.send_json(200, completion_body(item, model))
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        start_stream(self)
        send_events(self, script, chunk_events(item, model, include_usage), item.delay)


class FakeOpenAI:
    def __init__(self, responder: Responder | None = None) -> None:
        self.script = Script(responder)
        self._server = LocalHTTPServer(_Handler, owner=self)

    @property
    def base_url(self) -> str:
        """What OPENAI_BASE_URL should be."""
        return f"{self._server.url}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._server.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop()

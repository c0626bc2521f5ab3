"""What a fake provider answers, described once for both wire formats (OpenAI and Anthropic).

A test (or the e2e) queues `Reply`/`Failure` items, or gives a `responder(request_body) -> item` that
decides from the request (for example: answer with a tool call until the conversation holds its result).
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any] | str
    """A dict is sent as JSON; a str is sent as is (to test arguments that are not valid JSON)."""
    id: str = field(default_factory=lambda: f"call_{uuid.uuid4().hex[:12]}")


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[ScriptedToolCall] = field(default_factory=list)
    text_chunk: int = 4
    """Characters per text delta."""
    argument_pieces: int = 3
    """Each tool call's arguments are split into this many deltas."""
    delay: float = 0.0
    """Seconds between chunks (slow streams for cancel tests)."""
    input_tokens: int = 11
    output_tokens: int = 7
    error_after: int | None = None
    """Replace the rest of the stream by an error event after this many events (mid-stream failure)."""
    error_type: str = "overloaded_error"
    indexed_tool_calls: bool = True
    """OpenAI only: False sends tool call deltas without `index`, as some compatible servers do."""


@dataclass
class Failure:
    status: int
    message: str
    error_type: str = ""
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


Item = Reply | Failure
Responder = Callable[[dict[str, Any]], Item]


def split(text: str, pieces: int) -> list[str]:
    if not text:
        return [""]
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)]


class Script:
    """The queue of answers and the record of requests, shared by the fake servers."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder
        self.queue: deque[Item] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.aborted = threading.Event()
        """Set when a client closed a stream before its end."""
        self.completed_streams = 0
        self._lock = threading.Lock()

    def enqueue(self, *items: Item) -> None:
        self.queue.extend(items)

    def next_item(self, body: dict[str, Any], headers: dict[str, str]) -> Item:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self.queue:
                return self.queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return Reply(text="ok")

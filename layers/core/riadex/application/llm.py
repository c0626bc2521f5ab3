"""The port to a chat model with function calling, and the values that cross it.

Every provider (OpenAI, Gemini through its OpenAI-compatible endpoint, Anthropic) is reached through
`ChatModel.complete`: one streamed request that returns one assembled `ModelReply`. The types are plain
dataclasses so that the agent loop, the conversation builder and the scripted model need no SDK, and so
that an API function importing this module pays nothing for it at cold start.

Errors: every failure of a model call leaves the adapter as a `ModelError` with a `kind` the loop can
act on (retry the transient ones, report the rest with the message, which says what to fix).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]

ErrorKind = Literal[
    "auth",
    "invalid_request",
    "rate_limit",
    "overloaded",
    "server",
    "timeout",
    "cancelled",
    "context_length",
]

RETRYABLE_KINDS: frozenset[str] = frozenset({"rate_limit", "overloaded", "server", "timeout"})


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: `parameters` is a JSON schema of an object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    """One turn. An assistant turn may carry tool calls; a `tool` turn answers one of them by id."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)


@dataclass(frozen=True)
class Recovery:
    """Something a model did that the loop did not expect and worked around: `code` names the case
    (plan_as_text, plan_in_prompt, plan_fallback, tool_choice_unsupported, empty_reply,
    summary_tool_calls), `message` says what happened and what was done instead."""

    code: str
    message: str


@dataclass(frozen=True)
class ModelReply:
    """The assembled answer of one streamed call.

    `stop_reason` is normalised: "end" (the model finished), "tool_calls", "max_tokens" or "other".
    """

    message_id: str
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = "end"
    recovered: tuple[Recovery, ...] = ()
    """What the agent model worked around to get this reply (the loop shows each as an event)."""

    def as_message(self) -> ChatMessage:
        return ChatMessage(role="assistant", content=self.text, tool_calls=self.tool_calls)


class ModelError(Exception):
    """A model call that failed; `message` tells the user what to do about it.

    `retryable` follows from `kind`: rate limits, overload, server errors and timeouts are worth another
    try (the state machine's Retry does it, with backoff); the rest are not.
    """

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS

    def __repr__(self) -> str:
        return f"ModelError(kind={self.kind!r}, status={self.status!r}, message={self.message!r})"


TextSink = Callable[[str], None]
StopCheck = Callable[[], bool]


def throttled_stop_check(
    check: StopCheck,
    every_seconds: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    *,
    just_checked: bool = False,
) -> StopCheck:
    """`check` asked at most once per `every_seconds` (it may read a database); once True, always True.

    The adapters call `should_stop` after every streamed chunk, so a status read goes behind this.
    `just_checked`: the caller has just read what `check` reads, so the first read waits an interval.
    """
    state = {"next": clock() + every_seconds if just_checked else float("-inf"), "stopped": False}

    def should_stop() -> bool:
        if state["stopped"]:
            return True
        now = clock()
        if now >= state["next"]:
            state["next"] = now + every_seconds
            state["stopped"] = bool(check())
        return bool(state["stopped"])

    return should_stop


ToolChoice = str
""""auto" (the model decides), "none" (no tool call), "required" (some tool call), or a tool's name
(exactly that tool)."""


class ChatModel(Protocol):
    """One streamed completion.

    `on_text` receives the assistant's text as it arrives, in chunks. `should_stop` is checked after
    every chunk of the stream: when it answers True the stream is closed and `ModelError("cancelled")`
    raised. It must be cheap: wrap a status read in `throttled_stop_check`. The call ends with the reply
    assembled: text, tool calls with parsed arguments, usage.
    """

    provider: str
    model: str

    def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        tool_choice: ToolChoice = "auto",
        on_text: TextSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> ModelReply: ...

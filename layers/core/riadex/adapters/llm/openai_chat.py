"""`ChatModel` over the OpenAI Chat Completions API, streamed; also Gemini and any compatible server.

Importing this module imports the `openai` SDK (about 0.5 s): only the factory imports it, and only
when the provider is openai or gemini, so API and stream functions never pay for it.

Streaming: `stream_options.include_usage` makes the last chunk carry the usage. Tool calls arrive as
deltas keyed by `index` (id and name first, arguments in pieces); they are joined here and the
arguments parsed once complete (`tool_arguments.parse_arguments`). A server that sends no index (some
compatible servers) gets one per call id.

Retries: the SDK's own retry count is `max_retries` (0 by default: the state machine retries, with
backoff, the errors `ModelError.retryable` marks).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import openai

from riadex.adapters.llm import errors
from riadex.adapters.llm.tool_arguments import parse_arguments
from riadex.application.llm import (
    ChatMessage,
    ModelError,
    ModelReply,
    StopCheck,
    TextSink,
    ToolCall,
    ToolChoice,
    ToolSpec,
    Usage,
)

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
_STOP_REASONS = {
    "stop": "end",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "max_tokens",
}


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            out.append({"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content})
        elif message.role == "assistant":
            item: dict[str, Any] = {"role": "assistant"}
            if message.content or not message.tool_calls:
                item["content"] = message.content
            if message.tool_calls:
                item["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in message.tool_calls
                ]
            out.append(item)
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def to_openai_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def to_openai_tool_choice(choice: ToolChoice) -> Any:
    if choice in {"auto", "none", "required"}:
        return choice
    return {"type": "function", "function": {"name": choice}}


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _Assembly:
    """The reply being put together from chunks."""

    message_id: str = ""
    text: list[str] = field(default_factory=list)
    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)

    def add_tool_delta(self, delta: Any) -> None:
        index = delta.index
        if index is None:
            index = len(self.calls) if delta.id or not self.calls else max(self.calls)
        partial = self.calls.setdefault(index, _PartialCall())
        if delta.id:
            partial.id = delta.id
        function = delta.function
        if function is not None:
            if function.name:
                partial.name += function.name
            if function.arguments:
                partial.arguments.append(function.arguments)

    def reply(self) -> ModelReply:
        calls = tuple(
            ToolCall(
                id=p.id or f"call_{uuid.uuid4().hex[:24]}",
                name=p.name,
                arguments=parse_arguments("".join(p.arguments)),
            )
            for _, p in sorted(self.calls.items())
        )
        stop = "tool_calls" if calls else _STOP_REASONS.get(self.finish_reason or "stop", "other")
        return ModelReply(
            message_id=self.message_id or f"msg_{uuid.uuid4().hex}",
            text="".join(self.text),
            tool_calls=calls,
            usage=self.usage,
            stop_reason=stop,
        )


class OpenAIChatModel:
    """OpenAI, Gemini (`provider="gemini"`, Google's OpenAI-compatible endpoint) or a compatible server."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        provider: str = "openai",
        key_env: str = "OPENAI_API_KEY",
        max_retries: int = 0,
        timeout_seconds: float = 120.0,
        max_output_tokens: int | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.key_env = key_env
        self.max_output_tokens = max_output_tokens
        self._label = {"openai": "OpenAI", "gemini": "Gemini"}.get(provider, provider)
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=openai.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
        )
        self.base_url = str(self._client.base_url)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        tool_choice: ToolChoice = "auto",
        on_text: TextSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> ModelReply:
        if should_stop is not None and should_stop():
            raise errors.cancelled()
        request: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = to_openai_tools(tools)
            request["tool_choice"] = to_openai_tool_choice(tool_choice)
        if self.max_output_tokens:
            request["max_completion_tokens"] = self.max_output_tokens
        try:
            return self._stream(request, on_text, should_stop)
        except ModelError:
            raise
        except openai.APIStatusError as exc:
            raise self._status_error(exc.status_code, exc.body) from exc
        except openai.APITimeoutError as exc:
            raise errors.timed_out(self._label) from exc
        except openai.APIConnectionError as exc:
            reason = str(exc.__cause__ or exc)
            raise errors.unreachable(self._label, self.base_url, reason) from exc
        except openai.APIError as exc:  # an error event in the middle of the stream
            raise self._status_error(None, exc.body) from exc

    def _status_error(self, status: int | None, body: object) -> ModelError:
        return errors.from_status(self._label, status, body, key_env=self.key_env, model=self.model)

    def _stream(
        self, request: dict[str, Any], on_text: TextSink | None, should_stop: StopCheck | None
    ) -> ModelReply:
        assembly = _Assembly()
        stream = self._client.chat.completions.create(**request)
        with stream:
            for chunk in stream:
                assembly.message_id = assembly.message_id or chunk.id
                if chunk.usage is not None:
                    assembly.usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        assembly.text.append(delta.content)
                        if on_text is not None:
                            on_text(delta.content)
                    for tool_delta in delta.tool_calls or ():
                        assembly.add_tool_delta(tool_delta)
                    if choice.finish_reason:
                        assembly.finish_reason = choice.finish_reason
                if should_stop is not None and should_stop():
                    raise errors.cancelled()
        return assembly.reply()

"""`ChatModel` over the Anthropic Messages API, streamed.

Importing this module imports the `anthropic` SDK (about 1 s): only the factory imports it, and only
when the provider is anthropic.

Mapping: system turns become the `system` parameter; tool results become `tool_result` blocks in a user
turn; consecutive turns of one role are merged into one turn of several blocks (the API wants
user/assistant alternation, starting with the user). Streaming reads the raw events: `message_start`
(id, input tokens), `content_block_start` (a text block, or a `tool_use` block with id and name),
`content_block_delta` (`text_delta` or `input_json_delta` pieces of a tool's input), `message_delta`
(stop reason, output tokens), `message_stop`. Cache tokens count as input tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anthropic

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

DEFAULT_MAX_TOKENS = 4096
_STOP_REASONS = {
    "end_turn": "end",
    "stop_sequence": "end",
    "tool_use": "tool_calls",
    "max_tokens": "max_tokens",
}


def to_anthropic_messages(messages: Sequence[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        blocks: list[dict[str, Any]] = []
        role = "user"
        if message.role == "tool":
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id,
                    "content": message.content or "(no output)",
                }
            )
        elif message.role == "assistant":
            role = "assistant"
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in message.tool_calls
            )
        elif message.content:
            blocks.append({"type": "text", "text": message.content})
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(earlier conversation)"}]})
    for turn in turns:  # tool results must come first in a user turn
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    return system, turns


def to_anthropic_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


def to_anthropic_tool_choice(choice: ToolChoice) -> dict[str, str]:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    return {"type": "tool", "name": choice}


@dataclass
class _Block:
    kind: str
    id: str = ""
    name: str = ""
    parts: list[str] = field(default_factory=list)


class AnthropicChatModel:
    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        base_url: str | None = None,
        max_retries: int = 0,
        timeout_seconds: float = 120.0,
        max_output_tokens: int | None = None,
    ) -> None:
        self.provider = "anthropic"
        self.model = model
        self.max_output_tokens = max_output_tokens or DEFAULT_MAX_TOKENS
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=max_retries,
            timeout=anthropic.Timeout(timeout_seconds, connect=min(10.0, timeout_seconds)),
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
        system, turns = to_anthropic_messages(messages)
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_output_tokens,
            "messages": turns,
            "stream": True,
        }
        if system:
            request["system"] = system
        if tools:
            request["tools"] = to_anthropic_tools(tools)
            request["tool_choice"] = to_anthropic_tool_choice(tool_choice)
        try:
            return self._stream(request, on_text, should_stop)
        except ModelError:
            raise
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc.status_code, exc.body) from exc
        except anthropic.APITimeoutError as exc:
            raise errors.timed_out("Anthropic") from exc
        except anthropic.APIConnectionError as exc:
            raise errors.unreachable("Anthropic", self.base_url, str(exc.__cause__ or exc)) from exc
        except anthropic.APIError as exc:
            raise self._status_error(None, exc.body) from exc

    def _status_error(self, status: int | None, body: object) -> ModelError:
        _, code = errors.error_detail(body)
        if status == 200 or status is None:  # an error event inside a stream that had started fine
            status = None
            if code == "overloaded_error":
                status = 529
        return errors.from_status("Anthropic", status, body, key_env="ANTHROPIC_API_KEY", model=self.model)

    def _stream(
        self, request: dict[str, Any], on_text: TextSink | None, should_stop: StopCheck | None
    ) -> ModelReply:
        message_id = ""
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        blocks: dict[int, _Block] = {}
        stream = self._client.messages.create(**request)
        with stream:
            for event in stream:
                if event.type == "message_start":
                    message_id = event.message.id
                    usage = event.message.usage
                    input_tokens = (
                        (usage.input_tokens or 0)
                        + (usage.cache_creation_input_tokens or 0)
                        + (usage.cache_read_input_tokens or 0)
                    )
                    output_tokens = usage.output_tokens or 0
                elif event.type == "content_block_start":
                    block = event.content_block
                    if block.type == "tool_use":
                        blocks[event.index] = _Block("tool_use", block.id, block.name)
                    elif block.type == "text":
                        blocks[event.index] = _Block("text", parts=[block.text] if block.text else [])
                elif event.type == "content_block_delta":
                    delta = event.delta
                    target = blocks.setdefault(event.index, _Block(delta.type))
                    if delta.type == "text_delta":
                        target.parts.append(delta.text)
                        if on_text is not None:
                            on_text(delta.text)
                    elif delta.type == "input_json_delta":
                        target.parts.append(delta.partial_json)
                elif event.type == "message_delta":
                    stop_reason = event.delta.stop_reason or stop_reason
                    if event.usage is not None and event.usage.output_tokens is not None:
                        output_tokens = event.usage.output_tokens
                if should_stop is not None and should_stop():
                    raise errors.cancelled()
        ordered = [blocks[index] for index in sorted(blocks)]
        calls = tuple(
            ToolCall(
                id=b.id or f"toolu_{uuid.uuid4().hex[:24]}",
                name=b.name,
                arguments=parse_arguments("".join(b.parts)),
            )
            for b in ordered
            if b.kind == "tool_use"
        )
        text = "".join("".join(b.parts) for b in ordered if b.kind in {"text", "text_delta"})
        return ModelReply(
            message_id=message_id or f"msg_{uuid.uuid4().hex}",
            text=text,
            tool_calls=calls,
            usage=Usage(input_tokens, output_tokens),
            stop_reason=_STOP_REASONS.get(stop_reason or "end_turn", "other"),
        )

"""The conversation a model sees: rebuilt from the session's stored events, then fitted to a budget.

Rebuilding (`conversation_from_events`):
- `message` events become user/assistant turns; `tool` events with status `calling` become tool calls,
  attached to the assistant turn just before them (or to a new, empty assistant turn);
- each call is answered by a `tool` turn placed right after its assistant turn (providers reject
  anything else between a call and its result), made from the call's `called`/`failed` event; a call
  that never got a result (the run died or was cancelled mid-call) gets a result saying so, so a call is
  never left half-answered; a user message stored while calls were open (the answer to an ask) comes
  after their results; a new run (`run{queued}`) closes whatever calls the previous one left open;
- everything else (run, plan, step, delta, title, wait, sandbox, error, done) is not conversation.

Fitting (`fit_to_budget`), in this order until the estimate fits:
1. every tool output longer than `max_tool_chars` is cut in the middle, with a marker saying how much;
2. older tool outputs (not in the latest turn) are cut to `old_tool_chars`;
3. the oldest turns are left out whole (an assistant turn with all its tool results, never half of it),
   keeping system messages, the latest user message and the latest turn; one marker message says how
   many were left out.
Token counts are estimated as characters / 4, which is close enough for a budget with a margin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from riadex.application.llm import ChatMessage, ToolCall
from riadex.domain.models import Event

NO_RESULT = "[no result was recorded for this call: the run stopped before the tool answered]"
CHARS_PER_TOKEN = 4


def render_tool_content(status: str, content: Any) -> str:
    """A tool event's content as the text a model reads; failures say so first."""
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        text = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
    if status == "failed":
        return f"The tool call failed: {text}" if text else "The tool call failed."
    return text


def conversation_from_events(events: Iterable[Event]) -> list[ChatMessage]:
    ordered = sorted(events, key=lambda e: e.seq)
    results: dict[str, str] = {}
    for event in ordered:
        if event.type == "tool" and event.data.get("status") in {"called", "failed"}:
            call_id = str(event.data.get("tool_call_id", ""))
            results[call_id] = render_tool_content(str(event.data["status"]), event.data.get("content"))

    out: list[ChatMessage] = []
    open_calls: list[ToolCall] = []  # calls of the latest assistant turn, results not yet placed
    answered: set[str] = set()  # open calls whose result event has been seen so far
    held: list[ChatMessage] = []  # user messages that arrived while calls were open

    def close_calls() -> None:
        for call in open_calls:
            out.append(
                ChatMessage(role="tool", content=results.get(call.id, NO_RESULT), tool_call_id=call.id)
            )
        open_calls.clear()
        answered.clear()
        out.extend(held)
        held.clear()

    for event in ordered:
        data = event.data
        if event.type == "run" and data.get("status") == "queued":
            close_calls()  # a new run: calls a cancelled run left open are over (NO_RESULT)
        elif event.type == "message":
            role = data.get("role")
            content = str(data.get("content", ""))
            if role == "user":
                if open_calls:
                    held.append(ChatMessage(role="user", content=content))
                else:
                    out.append(ChatMessage(role="user", content=content))
            elif role == "assistant":
                close_calls()
                out.append(ChatMessage(role="assistant", content=content))
        elif event.type == "tool" and data.get("status") == "calling":
            args = data.get("args")
            call = ToolCall(
                id=str(data.get("tool_call_id", "")),
                name=str(data.get("function", data.get("name", ""))),
                arguments=args if isinstance(args, dict) else {},
            )
            if open_calls and all(c.id in answered for c in open_calls):
                close_calls()  # a new model turn: the previous calls were all answered first
            last = out[-1] if out else None
            if open_calls or (last is not None and last.role == "assistant" and not held):
                # Extend the assistant turn just before (its text, or its earlier calls in this batch).
                assert last is not None
                out[-1] = replace(last, tool_calls=(*last.tool_calls, call))
            else:
                close_calls()
                out.append(ChatMessage(role="assistant", content="", tool_calls=(call,)))
            open_calls.append(call)
        elif event.type == "tool" and data.get("status") in {"called", "failed"}:
            answered.add(str(data.get("tool_call_id", "")))
    close_calls()
    return out


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    chars = 0
    for message in messages:
        chars += len(message.content) + 16
        for call in message.tool_calls:
            chars += len(call.name) + len(json.dumps(call.arguments, ensure_ascii=False)) + 16
    return chars // CHARS_PER_TOKEN


def cut_text(text: str, limit: int) -> str:
    """Keep the head and the tail of `text` within about `limit` characters, saying what was cut."""
    if len(text) <= limit:
        return text
    head = max(limit * 2 // 3, 0)
    tail = max(limit - head, 0)
    cut = len(text) - head - tail
    marker = f"\n[... {cut} characters of this tool output were cut to fit the context budget ...]\n"
    return text[:head] + marker + (text[-tail:] if tail else "")


def fit_to_budget(
    messages: Sequence[ChatMessage],
    budget_tokens: int,
    *,
    max_tool_chars: int = 20_000,
    old_tool_chars: int = 2_000,
) -> list[ChatMessage]:
    fitted = [
        replace(m, content=cut_text(m.content, max_tool_chars)) if m.role == "tool" else m for m in messages
    ]
    if estimate_tokens(fitted) <= budget_tokens:
        return fitted

    turns = _turns(fitted)
    last_user = max((i for i, m in enumerate(fitted) if m.role == "user"), default=-1)
    latest = len(turns) - 1
    for number, turn in enumerate(turns):
        if number == latest:
            break
        for index in turn:
            message = fitted[index]
            if message.role == "tool":
                fitted[index] = replace(message, content=cut_text(message.content, old_tool_chars))
    if estimate_tokens(fitted) <= budget_tokens:
        return fitted

    dropped: set[int] = set()
    total = estimate_tokens(fitted)
    for number, turn in enumerate(turns):
        if total <= budget_tokens or number == latest:
            break
        if any(fitted[i].role == "system" or i == last_user for i in turn):
            continue
        total -= estimate_tokens([fitted[i] for i in turn])
        dropped.update(turn)
    if not dropped:
        return fitted
    kept: list[ChatMessage] = []
    marker_placed = False
    for index, message in enumerate(fitted):
        if index in dropped:
            if not marker_placed:
                note = f"[{len(dropped)} earlier messages were left out to fit the context budget]"
                kept.append(ChatMessage(role="user", content=note))
                marker_placed = True
            continue
        kept.append(message)
    return kept


def _turns(messages: Sequence[ChatMessage]) -> list[list[int]]:
    """Indices grouped so that tool results stay with the assistant turn that called them."""
    turns: list[list[int]] = []
    for index, message in enumerate(messages):
        if message.role == "tool" and turns:
            turns[-1].append(index)
        else:
            turns.append([index])
    return turns

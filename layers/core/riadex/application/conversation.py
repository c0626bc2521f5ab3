"""The conversation a model sees: rebuilt from the session's stored events, then fitted to a budget.

Rebuilding (`conversation_from_events`):
- `message` events become user/assistant turns; `tool` events with status `calling` become tool calls,
  attached to the assistant turn just before them (or to a new, empty assistant turn);
- each call is answered by a `tool` turn placed right after its assistant turn (providers reject
  anything else between a call and its result), made from the call's `called`/`failed` event; a call
  that never got a result (the run died or was cancelled mid-call) gets a result saying so, so a call is
  never left half-answered; a user message stored while calls were open (the answer to an ask) comes
  after their results; a new run (`run{queued}`) closes whatever calls the previous one left open;
- `takeover{"status": "ended"}` (the user took the sandbox over and gave it back) is a user turn that
  says so, with the user's note;
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
from dataclasses import dataclass, field, replace
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


def takeover_note(note: Any) -> str:
    """What the agent reads after the user took the sandbox over and gave it back (docs/api.md)."""
    text = (
        "[The user took control of the sandbox (its browser) and has handed it back to you. The page "
        "and the files may have changed: look again before you rely on what you saw.]"
    )
    return f"{text}\nThe user's note: {note}" if note else f"{text}\nThe user left no note."


def conversation_from_events(events: Iterable[Event]) -> list[ChatMessage]:
    builder = ConversationBuilder()
    builder.feed(sorted(events, key=lambda e: e.seq))
    return builder.messages()


@dataclass
class ConversationBuilder:
    """The conversation folded one event at a time, so a step feeds only what it has not seen.

    Its state is small (the messages so far and the calls still open) and round-trips through
    `to_dict`/`of`, which is what the run keeps between the loop's tasks. A tool result is looked up
    when its call is closed (the next model turn, a new run, or `messages()`), so a result must be fed
    before the turn that follows its call — which is how the loop writes them.
    """

    out: list[ChatMessage] = field(default_factory=list)
    open_calls: list[ToolCall] = field(default_factory=list)
    """Calls of the latest assistant turn whose results are not placed yet."""
    answered: set[str] = field(default_factory=set)
    held: list[ChatMessage] = field(default_factory=list)
    """User messages that arrived while calls were open (the answer to an ask)."""
    results: dict[str, str] = field(default_factory=dict)
    """Rendered results of the open calls."""

    def feed(self, events: Iterable[Event]) -> None:
        for event in events:
            self.add(event)

    def add(self, event: Event) -> None:
        data = event.data
        if event.type == "tool" and data.get("status") in {"called", "failed"}:
            call_id = str(data.get("tool_call_id", ""))
            self.results[call_id] = render_tool_content(str(data["status"]), data.get("content"))
            self.answered.add(call_id)
        elif event.type == "run" and data.get("status") == "queued":
            self._close()  # a new run: calls a cancelled run left open are over (NO_RESULT)
        elif event.type == "message":
            role = data.get("role")
            content = str(data.get("content", ""))
            if role == "user":
                (self.held if self.open_calls else self.out).append(ChatMessage(role="user", content=content))
            elif role == "assistant":
                self._close()
                self.out.append(ChatMessage(role="assistant", content=content))
        elif event.type == "takeover" and data.get("status") == "ended":
            # The user had the sandbox: the agent hears it as a user turn, the user's note with it.
            message = ChatMessage(role="user", content=takeover_note(data.get("note")))
            (self.held if self.open_calls else self.out).append(message)
        elif event.type == "tool" and data.get("status") == "calling":
            args = data.get("args")
            call = ToolCall(
                id=str(data.get("tool_call_id", "")),
                name=str(data.get("function", data.get("name", ""))),
                arguments=args if isinstance(args, dict) else {},
            )
            if self.open_calls and all(c.id in self.answered for c in self.open_calls):
                self._close()  # a new model turn: the previous calls were all answered first
            last = self.out[-1] if self.out else None
            if self.open_calls or (last is not None and last.role == "assistant" and not self.held):
                # Extend the assistant turn just before (its text, or its earlier calls in this batch).
                assert last is not None
                self.out[-1] = replace(last, tool_calls=(*last.tool_calls, call))
            else:
                self._close()
                self.out.append(ChatMessage(role="assistant", content="", tool_calls=(call,)))
            self.open_calls.append(call)

    def messages(self) -> list[ChatMessage]:
        """The conversation as a model reads it now: open calls answered (or said to have none)."""
        copy = ConversationBuilder(
            list(self.out), list(self.open_calls), set(self.answered), list(self.held), dict(self.results)
        )
        copy._close()
        return copy.out

    def _close(self) -> None:
        for call in self.open_calls:
            content = self.results.get(call.id, NO_RESULT)
            self.out.append(ChatMessage(role="tool", content=content, tool_call_id=call.id))
        self.open_calls.clear()
        self.answered.clear()
        self.results.clear()
        self.out.extend(self.held)
        self.held.clear()

    # --- the snapshot the run keeps ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "out": [_message_dict(m) for m in self.out],
            "open": [_call_dict(c) for c in self.open_calls],
            "answered": sorted(self.answered),
            "held": [_message_dict(m) for m in self.held],
            "results": self.results,
        }

    @classmethod
    def of(cls, raw: dict[str, Any]) -> ConversationBuilder:
        return cls(
            out=[_message_of(m) for m in raw.get("out", [])],
            open_calls=[_call_of(c) for c in raw.get("open", [])],
            answered=set(raw.get("answered", [])),
            held=[_message_of(m) for m in raw.get("held", [])],
            results=dict(raw.get("results", {})),
        )


def _call_dict(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "name": call.name, "args": call.arguments}


def _call_of(raw: dict[str, Any]) -> ToolCall:
    return ToolCall(id=str(raw["id"]), name=str(raw["name"]), arguments=dict(raw.get("args") or {}))


def _message_dict(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["calls"] = [_call_dict(c) for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["call_id"] = message.tool_call_id
    return out


def _message_of(raw: dict[str, Any]) -> ChatMessage:
    return ChatMessage(
        role=raw["role"],
        content=str(raw.get("content", "")),
        tool_calls=tuple(_call_of(c) for c in raw.get("calls", [])),
        tool_call_id=raw.get("call_id"),
    )


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


@dataclass
class RunConversation:
    """What a run keeps between the loop's tasks so that a step reads only what it has not seen.

    `cursor`: every seq up to it is folded into `builder`; `seen`: seqs past it folded already (the
    task's own writes, when another writer's event sits between them and the cursor). A task loads
    this, folds the events after the cursor (one short read), folds each event it writes as it writes
    it (deltas included, so they are never read back), and saves it. `plan` holds the run's steps.
    """

    builder: ConversationBuilder = field(default_factory=ConversationBuilder)
    cursor: int = 0
    seen: set[int] = field(default_factory=set)
    plan: tuple[str, ...] = ()
    failed_steps: set[int] = field(default_factory=set)
    """Indexes of the run's steps that ended `failed`."""
    step_results: list[str] = field(default_factory=list)
    """The statuses (called/failed) of the tool results since the current step started."""
    run_id: str | None = None
    """The run whose steps `failed_steps`, `step_results` and `closed_steps` follow (only its events)."""
    closed_steps: set[int] = field(default_factory=set)
    """Indexes of the run's steps already closed (completed or failed): a retried Think that finds
    its step closed redoes the closing writes (stored once) instead of asking the model again."""

    def fold(self, event: Event) -> None:
        if event.seq <= self.cursor or event.seq in self.seen:
            return  # already folded (a retried write returns the event it stored first)
        self.builder.add(event)
        status = event.data.get("status")
        if event.run_id != self.run_id:
            pass  # another run's steps (a previous run's late closing events) are not this run's
        elif event.type == "step" and status == "started":
            self.step_results = []
        elif event.type == "step" and status in {"completed", "failed"}:
            index = int(event.data.get("id", 0)) - 1
            self.closed_steps.add(index)
            if status == "failed":
                self.failed_steps.add(index)
        elif event.type == "tool" and status in {"called", "failed"}:
            self.step_results.append(str(status))
        self.seen.add(event.seq)
        while self.cursor + 1 in self.seen:
            self.cursor += 1
            self.seen.discard(self.cursor)

    def new_run(self, run_id: str) -> RunConversation:
        """The previous run's snapshot as the start of a new run: the conversation, not its plan."""
        return RunConversation(self.builder, self.cursor, self.seen, run_id=run_id)

    def pending_calls(self) -> list[ToolCall]:
        """The latest model turn's calls that have no result yet, in order."""
        return [c for c in self.builder.open_calls if c.id not in self.builder.answered]

    def messages(self) -> list[ChatMessage]:
        return self.builder.messages()

    def to_dict(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "seen": sorted(self.seen),
            "plan": list(self.plan),
            "failed_steps": sorted(self.failed_steps),
            "step_results": self.step_results,
            "closed_steps": sorted(self.closed_steps),
            "run_id": self.run_id,
            "conversation": self.builder.to_dict(),
        }

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> RunConversation:
        if not raw:
            return cls()
        return cls(
            builder=ConversationBuilder.of(raw.get("conversation") or {}),
            cursor=int(raw.get("cursor", 0)),
            seen={int(s) for s in raw.get("seen", [])},
            plan=tuple(str(s) for s in raw.get("plan", [])),
            failed_steps={int(i) for i in raw.get("failed_steps", [])},
            step_results=[str(r) for r in raw.get("step_results", [])],
            closed_steps={int(i) for i in raw.get("closed_steps", [])},
            run_id=raw.get("run_id"),
        )

"""The model as the agent loop sees it: plan, act on one step, summarize.

The loop (one Step Functions task per call) drives a run like this:

    plan = model.plan(conversation, tools)             # title + steps; no steps = just answer
    for index in range(len(plan.steps)):
        while True:
            reply = model.act(conversation, plan, index, tools, on_text=..., should_stop=...)
            if not reply.tool_calls:                   # the step is finished; reply.text says how:
                break                                  # store it as an assistant message
            ...run reply.tool_calls, store calls and results, rebuild the conversation...
    final = model.summarize(conversation, plan, tools, on_text=..., should_stop=...)

Store every reply's text as an assistant `message` event (the note that closes a step included): the
next step's model call must see that the previous step was closed, not only its last tool result.
`conversation` is rebuilt from the stored events each time (see `riadex.application.conversation`), so
every call is stateless and any task can run on any Lambda. Usage is on every reply (and on the plan)
for the run's counters. Errors are `ModelError` (see `riadex.application.llm`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from riadex.application.llm import (
    ChatMessage,
    ModelReply,
    Recovery,
    StopCheck,
    TextSink,
    ToolSpec,
    Usage,
)


@dataclass(frozen=True)
class Plan:
    title: str
    steps: tuple[str, ...]
    usage: Usage = field(default_factory=Usage)
    recovered: tuple[Recovery, ...] = ()
    tools: frozenset[str] | None = None
    """The tools (`tool.name`: shell, file, browser, search, message) the steps will call, as the model
    said; None when it did not say. The loop starts the sandbox ahead of the first step only for a plan
    that may call a sandbox tool (docs/sandboxes.md)."""


class AgentModel(Protocol):
    def plan(
        self,
        conversation: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        should_stop: StopCheck | None = None,
    ) -> Plan:
        """A title for the session and the steps that answer the latest request (maybe none)."""
        ...

    def act(
        self,
        conversation: Sequence[ChatMessage],
        plan: Plan,
        step_index: int,
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> ModelReply:
        """The next move on step `step_index`: tool calls to run, or none when the step is done."""
        ...

    def summarize(
        self,
        conversation: Sequence[ChatMessage],
        plan: Plan,
        tools: Sequence[ToolSpec],
        *,
        on_text: TextSink | None = None,
        should_stop: StopCheck | None = None,
    ) -> ModelReply:
        """The final assistant message of the run (no tool calls)."""
        ...

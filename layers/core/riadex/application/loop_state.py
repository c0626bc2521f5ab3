"""What travels in the state machine's payload between the loop's tasks: ids and counters only.

Step Functions caps a payload at 256 KiB and bills by the transition, not by the byte, so the
conversation, the plan and the tool results stay in the event log; the payload carries where the loop
is (step, think iteration), what it has used (tokens, tool calls, steps) for the budgets and the final
`done`, and an estimate of the execution's history size for the continuation (Step Functions caps an
execution's history at 25,000 events).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Next = Literal["sandbox", "think", "act", "ask", "summarize", "continue", "end"]
"""Where the state machine goes after a task; `sandbox` (after the plan) is `think` with the session's
sandbox started alongside, not waited for; `end` means the run has already been ended (a cancel or a
budget), so the execution just stops."""

HISTORY_EVENTS_PER_TASK = 7
"""A Lambda task state writes about five history events (entered, scheduled, started, succeeded,
exited) and the Choice after it two more."""


@dataclass
class LoopState:
    next: str = "think"
    step: int = 0
    steps: int = 0
    iteration: int = 0
    """Model calls made on the current step (the append keys of its events are numbered by it)."""
    history: int = 0
    """Estimated history events of the current execution."""
    continuation: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tool_calls: int = 0
    steps_done: int = 0
    wait_seconds: int = 86_400
    """How long AskUser waits for the answer (its TimeoutSecondsPath), from RUN_ASK_TIMEOUT_SECONDS."""

    @classmethod
    def of(cls, raw: Any) -> LoopState:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in (raw or {}).items() if k in known} if isinstance(raw, dict) else {}
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def usage(self) -> dict[str, int]:
        """`done.usage` (docs/api.md)."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tool_calls": self.tool_calls,
            "steps": self.steps_done,
        }

    def add_usage(self, input_tokens: int, output_tokens: int) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens

    def went(self, next: Next) -> LoopState:
        self.next = next
        self.history += HISTORY_EVENTS_PER_TASK
        return self

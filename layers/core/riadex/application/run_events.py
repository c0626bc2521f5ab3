"""The one way a use case writes a run's events: `RunEvents.append` under the run's fixed append keys.

Every write of a run goes through here — the API's (queued, the user's message, an answer, a cancel),
the loop's tasks (plan, steps, deltas, messages, tool calls and results) and the closing `run`/`done` —
so the rules live in one place:
- the key is `<run_id>/<name>`: a retried write stores once and returns what the first one stored;
- `while_in` makes the write conditional on the run's status, atomically. The default (the run still
  open) refuses a worker's write that lost the race with a cancel: RunNotOpen, nothing stored. A
  write racing a closer (a cancel's `cancelling`, a failure's `error`) uses LIVE_RUN_STATUSES, so
  nothing lands after a `done`. Only the closing events (and the opening ones a finisher fills in)
  are written without a condition (None);
- a `tool` event's content is bounded: the large part goes to the object store (`tool`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from riadex.application.large_outputs import bound_tool_output
from riadex.application.ports import EventLog, ObjectStore
from riadex.domain.events import EventType, append_key
from riadex.domain.models import OPEN_RUN_STATUSES, Event, Run, RunStatus

RunEvent = tuple[EventType, dict[str, Any], str]
"""One event of a run to write: its type, data and append-key name (`<run_id>/<name>`)."""


class RunEvents:
    def __init__(self, log: EventLog, objects: ObjectStore, inline_output_chars: int) -> None:
        self.log = log
        self._objects = objects
        self._inline = inline_output_chars

    def append(
        self,
        run: Run,
        type: EventType,
        data: dict[str, Any],
        name: str,
        *,
        while_in: frozenset[RunStatus] | None = OPEN_RUN_STATUSES,
    ) -> Event:
        return self.log.append(
            run.session_id,
            type.value,
            data,
            key=append_key(run.run_id, name),
            run_id=run.run_id,
            while_run_in=while_in,
        )

    def append_many(
        self,
        run: Run,
        entries: Sequence[RunEvent],
        *,
        while_in: frozenset[RunStatus] | None = OPEN_RUN_STATUSES,
    ) -> list[Event]:
        """Several events of the run in one write, in order (a step's boundary, a run's closing)."""
        return self.log.append_many(
            run.session_id,
            [(type.value, data, append_key(run.run_id, name)) for type, data, name in entries],
            run_id=run.run_id,
            while_run_in=while_in,
        )

    def tool(self, run: Run, name: str, data: dict[str, Any]) -> Event:
        """A `tool` event of the open run, its output bounded (large content goes to the object store)."""
        key = append_key(run.run_id, name)
        bounded = bound_tool_output(run.session_id, key, data, self._objects, self._inline)
        return self.append(run, EventType.TOOL, bounded, name)

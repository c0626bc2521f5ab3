"""`sandbox` events into the session's log (SPEC §2): the SandboxEvents port over EventLog.append.

Inside a run, sandbox events belong to the run (its events are a contiguous part of the log) and are
written only while it is open, so nothing lands after its `done`. Outside a run (views, the reaper,
a session delete) they are session events with no run id.
"""

from __future__ import annotations

import contextlib
import uuid

from riadex.application.ports import EventLog
from riadex.domain.errors import NotFound, RunNotOpen
from riadex.domain.events import EventType, append_key
from riadex.domain.sandboxes import SandboxStatus


class EventLogSandboxEvents:
    def __init__(self, events: EventLog, run_id: str | None = None) -> None:
        self.events = events
        self.run_id = run_id

    def for_run(self, run_id: str) -> EventLogSandboxEvents:
        return EventLogSandboxEvents(self.events, run_id)

    def emit(self, session_id: str, status: SandboxStatus, backend: str) -> None:
        name = f"sandbox/{status.value}/{uuid.uuid4().hex[:12]}"
        key = append_key(self.run_id, name) if self.run_id else f"{session_id}/{name}"
        # A cancelled run or a deleted session: the event has nowhere to go, and that is fine.
        with contextlib.suppress(RunNotOpen, NotFound):
            self.events.append(
                session_id,
                EventType.SANDBOX.value,
                {"status": status.value, "backend": backend},
                key=key,
                run_id=self.run_id,
                while_run_open=self.run_id is not None,
            )

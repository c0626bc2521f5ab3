"""Taking over a session's sandbox (docs/api.md, "Take over"): the user drives its browser, the run
waits, and a resume hands control back.

The takeover is recorded on the session (who has the sandbox) and on its active run, where the loop
sees it in the run item it reads at the start of every step anyway: noticing costs no extra read and
no extra state transition. At that step boundary the loop pauses on the same waitForTaskToken state as
a question to the user (AskUser), with `wait{"reason": "takeover"}`; `resume` ends the takeover and,
when the run paused for it, hands the task token back. A message while the sandbox is taken over is
refused (TakenOver, 409): the user resumes first.

Events record who did what: `takeover{"status": "started"}` when the user took control,
`takeover{"status": "ended", "note"?}` when they gave it back — the agent's next step reads the
latter as a user turn (riadex.application.conversation). Each is written under a fixed key, by
whichever side gets there first, so the log reads started → wait → waiting → ended → running whatever
the timing between the loop's pause and the user's resume.
"""

from __future__ import annotations

import contextlib
from typing import Any

from riadex.application.ports import EventLog, RunEnding, RunRepository, SessionRepository, Workflow
from riadex.application.run_events import RunEvents
from riadex.application.sessions import get_owned_session
from riadex.domain import ids
from riadex.domain.errors import Conflict, InvalidValue, RunNotOpen, Unavailable
from riadex.domain.events import EventType
from riadex.domain.models import Event, Run, RunStatus, Session, Takeover, utcnow

ATTEMPTS = 5
WAIT_QUESTION = "You have control of the sandbox's browser. Resume to hand it back to the agent."


def takeover_wait(takeover_id: str) -> dict[str, Any]:
    """The `wait` event of a run paused for a takeover (no tool call asked for it)."""
    return {"question": WAIT_QUESTION, "tool_call_id": None, "reason": "takeover", "takeover_id": takeover_id}


def write_started(log: EventLog, session_id: str, takeover_id: str) -> None:
    """`takeover{started}`: a session-level fact, in the active run's part of the log if there is one."""
    data = {"status": "started", "takeover_id": takeover_id}
    log.append(
        session_id, EventType.TAKEOVER.value, data, key=f"takeover:{takeover_id}:started", to_active_run=True
    )


def write_pause(events: RunEvents, run: Run, takeover_id: str) -> list[Event]:
    """The paused run's `wait` and `run{waiting}`, under the keys both the loop and a resume use.
    RunNotOpen when a cancel came first (its `done` stays last)."""
    waiting = {"status": RunStatus.WAITING.value}
    return [
        events.append(run, EventType.WAIT, takeover_wait(takeover_id), f"wait/{takeover_id}"),
        events.append(run, EventType.RUN, waiting, f"wait/{takeover_id}/run"),
    ]


class Takeovers:
    def __init__(
        self,
        sessions: SessionRepository,
        runs: RunRepository,
        log: EventLog,
        events: RunEvents,
        workflow: Workflow,
        ending: RunEnding,
        max_note_chars: int,
    ) -> None:
        self._sessions = sessions
        self._runs = runs
        self._log = log
        self._events = events
        self._workflow = workflow
        self._ending = ending
        self._max_note_chars = max_note_chars

    def take(self, owner_id: str, session_id: str) -> Session:
        """The user takes the sandbox; idempotent (a second takeover returns the session as it is)."""
        for _ in range(ATTEMPTS):
            session = get_owned_session(owner_id, session_id, self._sessions)
            if session.takeover is not None:
                return session
            takeover = Takeover(ids.new_id("tko"), utcnow())
            if self._runs.start_takeover(session_id, takeover, session.active_run_id):
                write_started(self._log, session_id, takeover.takeover_id)
                return get_owned_session(owner_id, session_id, self._sessions)
        raise Unavailable("the session kept changing; try the takeover again", retryable=True)

    def resume(self, owner_id: str, session_id: str, note: str | None) -> Session:
        """Hand control back: the takeover ends, a run paused for it goes on. 409 when not taken over."""
        note = (note or "").strip() or None
        if note is not None and len(note) > self._max_note_chars:
            raise InvalidValue(f"note must be at most {self._max_note_chars} characters")
        session = get_owned_session(owner_id, session_id, self._sessions)
        if session.takeover is None:
            raise Conflict("the session's sandbox is not taken over: nothing to resume", {"takeover": False})
        takeover_id = session.takeover.takeover_id
        paused = self._runs.end_takeover(session_id, takeover_id)
        if paused is not None:
            # The loop wrote these when it paused, unless this resume came first: stored once either way.
            write_started(self._log, session_id, takeover_id)
            with contextlib.suppress(RunNotOpen):
                write_pause(self._events, paused, takeover_id)
        ended: dict[str, Any] = {"status": "ended", "takeover_id": takeover_id}
        if note is not None:
            ended["note"] = note
        self._log.append(
            session_id,
            EventType.TAKEOVER.value,
            ended,
            key=f"takeover:{takeover_id}:ended",
            to_active_run=True,
        )
        if paused is not None:
            running = {"status": RunStatus.RUNNING.value}
            try:
                self._events.append(paused, EventType.RUN, running, f"takeover/{takeover_id}/running")
            except RunNotOpen:
                return get_owned_session(owner_id, session_id, self._sessions)  # cancelled meanwhile
            token = str((paused.wait or {}).get("task_token", ""))
            if not self._workflow.resume(token, {"resumed": takeover_id}):
                self._ending.finish(
                    paused.run_id, RunStatus.TIMED_OUT, reason="the takeover's wait expired before the resume"
                )
        return get_owned_session(owner_id, session_id, self._sessions)

"""Opening an event stream (docs/api.md) and pacing its polls; the SSE framing lives in the entrypoint.

A stream is a cursor over the session's log: it delivers every seq after the cursor once, in order.
Opening one decides where it starts, whether the cursor can be honoured (400 beyond the head, `resync`
when retention already dropped what follows it), and when it ends (a run stream ends with its run's
`done`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from riadex.application.ports import EventLog, RunRepository, SessionRepository
from riadex.application.sessions import get_owned_session
from riadex.domain import ids
from riadex.domain.errors import InvalidInput, NotFound
from riadex.domain.events import EventType, append_key
from riadex.domain.models import Event, Run

MAX_CURSOR_DIGITS = 18


def parse_cursor(last_event_id: str | None, after: str | None) -> int | None:
    """The exclusive cursor: Last-Event-ID wins over ?after= (docs/api.md); None when neither is given."""
    raw = last_event_id if last_event_id is not None else after
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit() or not raw.isascii() or len(raw) > MAX_CURSOR_DIGITS:
        raise InvalidInput("the event cursor must be a non-negative integer seq")
    return int(raw)


@dataclass(frozen=True)
class StreamPlan:
    session_id: str
    after: int
    head: int
    """The session's last seq when the stream opened."""
    run_id: str | None = None
    """Deliver only this run's events."""
    until_done_of: str | None = None
    """Close after this run's `done`."""
    finished: bool = False
    """Nothing left to send: the run's `done` is at or before the cursor."""
    resync: bool = False
    """The cursor is older than retention: tell the client to reload the session, then close."""
    active: bool = False
    """A run was active at open: poll fast from the start."""
    close_at_head: bool = False
    """Replay up to the head as of opening, then close (a chat resume with no run to follow)."""


def _check_cursor(events: EventLog, session_id: str, cursor: int | None, head: int) -> bool:
    """Validate an explicit cursor; True when it needs a resync."""
    if cursor is None:
        return False
    if cursor > head:
        raise InvalidInput(f"the event cursor {cursor} is beyond the session's last seq {head}")
    if cursor == head:
        return False
    following = events.read(session_id, cursor, 1)
    return not following or following[0].seq > cursor + 1


def open_session_stream(
    owner_id: str,
    session_id: str,
    cursor: int | None,
    sessions: SessionRepository,
    events: EventLog,
) -> StreamPlan:
    session = get_owned_session(owner_id, session_id, sessions)
    resync = _check_cursor(events, session_id, cursor, session.last_seq)
    return StreamPlan(
        session_id=session_id,
        after=cursor or 0,
        head=session.last_seq,
        resync=resync,
        active=session.active_run_id is not None,
    )


def _run_stream(
    run: Run, cursor: int | None, head: int, events: EventLog, *, only_run_events: bool
) -> StreamPlan:
    resync = _check_cursor(events, run.session_id, cursor, head)
    done = events.find(run.session_id, append_key(run.run_id, "done"))
    start = cursor if cursor is not None else max((run.first_seq or 1) - 1, 0)
    return StreamPlan(
        session_id=run.session_id,
        after=start,
        head=head,
        run_id=run.run_id if only_run_events else None,
        until_done_of=run.run_id,
        finished=done is not None and start >= done.seq,
        resync=resync,
        active=not run.status.is_terminal,
    )


def open_run_stream(
    owner_id: str,
    run_id: str,
    cursor: int | None,
    sessions: SessionRepository,
    runs: RunRepository,
    events: EventLog,
) -> StreamPlan:
    run = runs.get(run_id) if ids.is_valid(run_id, "run") else None
    if run is None or run.owner_id != owner_id:
        raise NotFound("run not found")
    session = get_owned_session(owner_id, run.session_id, sessions)
    return _run_stream(run, cursor, session.last_seq, events, only_run_events=True)


def open_chat_stream(
    owner_id: str,
    session_id: str,
    run: Run | None,
    cursor: int | None,
    sessions: SessionRepository,
    runs: RunRepository,
    events: EventLog,
) -> StreamPlan:
    """The first seed's chat: the session's events until `run`'s done (a new run, or with only a
    cursor, the active or latest run)."""
    session = get_owned_session(owner_id, session_id, sessions)
    if run is None:
        candidates = runs.list_for_session(session_id)
        active = [r for r in candidates if r.run_id == session.active_run_id]
        chosen = active or candidates[-1:]
        run = chosen[0] if chosen else None
    if run is None:
        plan = open_session_stream(owner_id, session_id, cursor, sessions, events)
        return dataclasses.replace(plan, close_at_head=True)
    return _run_stream(run, cursor, session.last_seq, events, only_run_events=False)


def ends_stream(plan: StreamPlan, event: Event) -> bool:
    return (
        plan.until_done_of is not None and event.type == EventType.DONE and event.run_id == plan.until_done_of
    )


@dataclass(frozen=True)
class PollPacing:
    """Adaptive polling: fast right after events and while a run is active, backing off when idle.

    Latency is bounded by the interval, cost by its inverse: an active run's events reach the client
    within `active_max` seconds, while an idle stream costs one Query per `idle_max` seconds.
    """

    fast: float = 0.1
    active_max: float = 0.5
    idle_max: float = 2.0
    growth: float = 1.5

    def next_interval(self, current: float, got_events: bool, active: bool) -> float:
        if got_events:
            return self.fast
        ceiling = self.active_max if active else self.idle_max
        return min(max(current, self.fast) * self.growth, ceiling)

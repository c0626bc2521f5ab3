"""The entities: users, sessions, runs and events, with the rules that govern their states."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO 8601 in UTC with microseconds: sorts as text in the same order as in time."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class User:
    user_id: str
    name: str
    created_at: datetime


class SessionStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    WAITING = "waiting"


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_RUN_STATUSES

    def can_become(self, target: RunStatus) -> bool:
        return target in _RUN_TRANSITIONS[self]


TERMINAL_RUN_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT}
)

# docs/api.md: queued → running ⇄ waiting → completed | failed | cancelled | timed_out, with cancelling
# between a cancel request and cancelled. A queued run is cancelled at once (docs/api.md).
_ENDINGS = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.TIMED_OUT}
_RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset(
        {RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.TIMED_OUT}
    ),
    RunStatus.RUNNING: frozenset({RunStatus.WAITING, RunStatus.CANCELLING, *_ENDINGS}),
    RunStatus.WAITING: frozenset({RunStatus.RUNNING, RunStatus.CANCELLING, *_ENDINGS}),
    RunStatus.CANCELLING: frozenset({RunStatus.CANCELLED, RunStatus.FAILED, RunStatus.TIMED_OUT}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELLED: frozenset(),
    RunStatus.TIMED_OUT: frozenset(),
}


@dataclass(frozen=True)
class SandboxInfo:
    status: str
    backend: str


@dataclass(frozen=True)
class Takeover:
    """The user has taken the session's sandbox (its browser) over, until they resume (docs/api.md)."""

    takeover_id: str
    since: datetime


@dataclass
class Session:
    session_id: str
    owner_id: str
    title: str
    created_at: datetime
    updated_at: datetime
    status: SessionStatus = SessionStatus.IDLE
    active_run_id: str | None = None
    last_seq: int = 0
    sandbox: SandboxInfo | None = None
    takeover: Takeover | None = None


@dataclass(frozen=True)
class Event:
    session_id: str
    seq: int
    run_id: str | None
    type: str
    ts: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; `next_cursor` is opaque and None on the last page."""

    items: list[T]
    next_cursor: str | None


OPEN_RUN_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING})
"""Statuses in which a run's workers may still write events; cancelling already shuts them out."""

LIVE_RUN_STATUSES = frozenset(status for status in RunStatus if not status.is_terminal)
"""The run has not ended: a write that races a closer (a cancel's `cancelling`, a failure's `error`)
is conditional on it, so nothing lands after the closer's `done`."""


def statuses_that_can_become(target: RunStatus) -> frozenset[RunStatus]:
    return frozenset(status for status in RunStatus if status.can_become(target))


@dataclass
class Run:
    """One turn of the agent: the answer to one user message, from `queued` to its single `done`."""

    run_id: str
    session_id: str
    owner_id: str
    status: RunStatus
    created_at: datetime
    message: str
    attachments: list[str] = field(default_factory=list)
    request_hash: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    usage: dict[str, int] | None = None
    error: dict[str, Any] | None = None
    reason: str | None = None
    first_seq: int | None = None
    message_seq: int | None = None
    execution: str | None = None
    """The name of the run's current Step Functions execution (None: the run id itself); a run that
    outgrows one execution's history continues in `<run_id>-<n>`."""
    wait: dict[str, Any] | None = None
    """While waiting for the user: {"task_token", "reason", "tool_call_id", "question"} (reason `ask`),
    or {"task_token", "reason": "takeover", "takeover_id"}."""
    takeover_id: str | None = None
    """Set while the user has the session's sandbox (a takeover): the loop pauses at its next step
    boundary, reading it with the run it reads there anyway."""

"""Request and response bodies, and their mapping from the domain. Only what the wire needs."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from riadex.domain.models import Event, Run, Session, iso

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """docs/api.md: every JSON response is `{"code", "msg", "data"}`; code 0 means success."""

    code: int = 0
    msg: str = "success"
    data: T


class ErrorEnvelope(BaseModel):
    code: int
    msg: str
    data: Any = None


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateUser(StrictBody):
    name: str = Field(min_length=1, max_length=100)


class CreateSession(StrictBody):
    title: str | None = Field(default=None, max_length=200)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class UserOut(BaseModel):
    user_id: str
    name: str
    token: str


class SandboxOut(BaseModel):
    status: str
    backend: str


class TakeoverOut(BaseModel):
    since: str


class SessionOut(BaseModel):
    session_id: str
    title: str
    status: str
    created_at: str
    updated_at: str
    active_run_id: str | None
    last_seq: int
    sandbox: SandboxOut | None
    takeover: TakeoverOut | None
    """Set while the user has taken the sandbox over (docs/api.md, "Take over")."""

    @classmethod
    def of(cls, session: Session) -> SessionOut:
        return cls(
            session_id=session.session_id,
            title=session.title,
            status=session.status.value,
            created_at=iso(session.created_at),
            updated_at=iso(session.updated_at),
            active_run_id=session.active_run_id,
            last_seq=session.last_seq,
            sandbox=(
                SandboxOut(status=session.sandbox.status, backend=session.sandbox.backend)
                if session.sandbox
                else None
            ),
            takeover=TakeoverOut(since=iso(session.takeover.since)) if session.takeover else None,
        )


class EventOut(BaseModel):
    seq: int
    session_id: str
    run_id: str | None
    type: str
    ts: str
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            seq=event.seq,
            session_id=event.session_id,
            run_id=event.run_id,
            type=event.type,
            ts=iso(event.ts),
            data=event.data,
        )


class SessionWithEvents(SessionOut):
    events: list[EventOut]


class SessionList(BaseModel):
    sessions: list[SessionOut]
    next_cursor: str | None


class Empty(BaseModel):
    pass


def _not_blank(value: str | None) -> str | None:
    """An empty or blank message is an invalid value: 422 like any other (docs/api.md, "Errors")."""
    if value is not None and not value.strip():
        raise ValueError("message must not be empty")
    return value


class SendMessage(StrictBody):
    message: str
    attachments: list[str] = Field(default_factory=list)

    _message_not_blank = field_validator("message")(_not_blank)


class ResumeBody(StrictBody):
    note: str | None = None
    """What the user did while they had the sandbox, for the agent (optional)."""


class ChatRequest(StrictBody):
    message: str | None = None
    event_id: int | str | None = None

    _message_not_blank = field_validator("message")(_not_blank)


class RunAccepted(BaseModel):
    run_id: str
    status: str
    events_url: str


class RunOut(BaseModel):
    run_id: str
    session_id: str
    status: str
    created_at: str
    started_at: str | None
    ended_at: str | None
    usage: dict[str, int] | None
    error: dict[str, Any] | None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            run_id=run.run_id,
            session_id=run.session_id,
            status=run.status.value,
            created_at=iso(run.created_at),
            started_at=iso(run.started_at) if run.started_at else None,
            ended_at=iso(run.ended_at) if run.ended_at else None,
            usage=run.usage,
            error=run.error,
        )

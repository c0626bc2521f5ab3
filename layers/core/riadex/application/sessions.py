"""Session use cases: create, list, read with history, stop and delete (docs/api.md)."""

from __future__ import annotations

from dataclasses import dataclass

from riadex.application.ports import EventLog, SessionRepository
from riadex.domain import ids
from riadex.domain.errors import InvalidInput, NotFound
from riadex.domain.models import Event, Page, Session, utcnow

DEFAULT_TITLE = "New session"
MAX_PAGE = 100


@dataclass(frozen=True)
class SessionHistory:
    session: Session
    events: list[Event]


def create_session(
    owner_id: str, title: str | None, sessions: SessionRepository, max_title_chars: int
) -> Session:
    title = (title or "").strip() or DEFAULT_TITLE
    if len(title) > max_title_chars:
        raise InvalidInput(f"title must be at most {max_title_chars} characters")
    now = utcnow()
    session = Session(
        session_id=ids.new_id("ses"), owner_id=owner_id, title=title, created_at=now, updated_at=now
    )
    sessions.add(session)
    return session


def list_sessions(
    owner_id: str, limit: int, cursor: str | None, sessions: SessionRepository
) -> Page[Session]:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return sessions.list_for_owner(owner_id, limit, cursor)


def get_owned_session(owner_id: str, session_id: str, sessions: SessionRepository) -> Session:
    """The session if it exists and belongs to owner_id; otherwise NotFound, whichever it was."""
    session = sessions.get(session_id) if ids.is_valid(session_id, "ses") else None
    if session is None or session.owner_id != owner_id:
        raise NotFound("session not found")
    return session


def session_history(
    owner_id: str,
    session_id: str,
    after: int,
    limit: int | None,
    sessions: SessionRepository,
    events: EventLog,
) -> SessionHistory:
    session = get_owned_session(owner_id, session_id, sessions)
    if after < 0:
        raise InvalidInput("after must be zero or more")
    return SessionHistory(session=session, events=events.read(session_id, after, limit))


def stop_session(owner_id: str, session_id: str, sessions: SessionRepository) -> Session:
    """Cancel the active run, if any; the session stays usable. Runs arrive with the runs issue."""
    return get_owned_session(owner_id, session_id, sessions)


def delete_session(owner_id: str, session_id: str, sessions: SessionRepository, events: EventLog) -> None:
    get_owned_session(owner_id, session_id, sessions)
    # Events first: if this is cut short, the session is still there to delete again.
    events.delete_all(session_id)
    sessions.delete(session_id)

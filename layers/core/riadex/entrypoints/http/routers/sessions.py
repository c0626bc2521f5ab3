from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from riadex.application import sessions as use
from riadex.application.files import delete_session_files
from riadex.entrypoints.http.dependencies import ContainerDep, UserId
from riadex.entrypoints.http.schemas import (
    CreateSession,
    Empty,
    Envelope,
    EventOut,
    ResumeBody,
    SessionList,
    SessionOut,
    SessionWithEvents,
)

router = APIRouter(prefix="/sessions", tags=["sessions"])


@router.put("", summary="Create a session")
def create_session(
    user_id: UserId, container: ContainerDep, body: CreateSession | None = None
) -> Envelope[SessionOut]:
    session = use.create_session(
        user_id, body.title if body else None, container.sessions, container.settings.max_title_chars
    )
    return Envelope(data=SessionOut.of(session))


@router.get("", summary="List your sessions, newest first")
def list_sessions(
    user_id: UserId,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=use.MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Envelope[SessionList]:
    page = use.list_sessions(user_id, limit, cursor, container.sessions)
    return Envelope(
        data=SessionList(sessions=[SessionOut.of(s) for s in page.items], next_cursor=page.next_cursor)
    )


@router.get("/{session_id}", summary="A session with its events, oldest first")
def get_session(
    session_id: str,
    user_id: UserId,
    container: ContainerDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> Envelope[SessionWithEvents]:
    history = use.session_history(user_id, session_id, after, limit, container.sessions, container.events)
    return Envelope(
        data=SessionWithEvents(
            **SessionOut.of(history.session).model_dump(),
            events=[EventOut.of(e) for e in history.events],
        )
    )


@router.delete("/{session_id}", summary="Cancel the active run, delete the session, its runs and its events")
def delete_session(session_id: str, user_id: UserId, container: ContainerDep) -> Envelope[Empty]:
    container.run_service.delete_session(
        user_id,
        session_id,
        cleanups=(
            container.sandboxes.release,
            lambda sid: delete_session_files(sid, container.files, container.file_store),
        ),
    )
    return Envelope(data=Empty())


@router.post("/{session_id}/stop", summary="Cancel the active run; the session stays usable")
def stop_session(session_id: str, user_id: UserId, container: ContainerDep) -> Envelope[SessionOut]:
    return Envelope(data=SessionOut.of(container.run_service.stop_session(user_id, session_id)))


@router.post(
    "/{session_id}/takeover",
    summary="Take the sandbox's browser over: the active run pauses at its next step boundary",
)
def take_over(session_id: str, user_id: UserId, container: ContainerDep) -> Envelope[SessionOut]:
    return Envelope(data=SessionOut.of(container.takeovers.take(user_id, session_id)))


@router.post("/{session_id}/resume", summary="Hand the sandbox back: a run paused for the takeover goes on")
def resume(
    session_id: str, user_id: UserId, container: ContainerDep, body: ResumeBody | None = None
) -> Envelope[SessionOut]:
    session = container.takeovers.resume(user_id, session_id, body.note if body else None)
    return Envelope(data=SessionOut.of(session))

"""The SSE routes (docs/api.md), served by the streaming function (and by the local server)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from riadex.application import streams as use
from riadex.domain.errors import InvalidValue
from riadex.entrypoints.http.dependencies import ContainerDep, StreamUserId
from riadex.entrypoints.http.schemas import ChatRequest
from riadex.entrypoints.http.sse import event_stream

router = APIRouter(tags=["events"])

SSE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events (docs/api.md)"}
}
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)]
After = Annotated[str | None, Query(max_length=32, description="exclusive cursor; Last-Event-ID wins")]


@router.get(
    "/sessions/{session_id}/events",
    summary="Stream all of a session's events (resume with Last-Event-ID or ?after=)",
    response_class=EventSourceResponse,
    responses=SSE_RESPONSES,
)
def session_events(
    session_id: str,
    request: Request,
    user_id: StreamUserId,
    container: ContainerDep,
    last_event_id: LastEventId = None,
    after: After = None,
) -> EventSourceResponse:
    cursor = use.parse_cursor(last_event_id, after)
    plan = use.open_session_stream(user_id, session_id, cursor, container.sessions, container.events)
    return event_stream(plan, container.events, request, container.settings, container.bell)


@router.get(
    "/runs/{run_id}/events",
    summary="Stream one run's events; closes after its done",
    response_class=EventSourceResponse,
    responses=SSE_RESPONSES,
)
def run_events(
    run_id: str,
    request: Request,
    user_id: StreamUserId,
    container: ContainerDep,
    last_event_id: LastEventId = None,
    after: After = None,
) -> EventSourceResponse:
    cursor = use.parse_cursor(last_event_id, after)
    plan = use.open_run_stream(user_id, run_id, cursor, container.sessions, container.runs, container.events)
    return event_stream(plan, container.events, request, container.settings, container.bell)


@router.post(
    "/sessions/{session_id}/chat",
    summary="Send a message and stream until its done, or resume after event_id",
    response_class=EventSourceResponse,
    responses=SSE_RESPONSES,
)
def chat(
    session_id: str,
    body: ChatRequest,
    request: Request,
    user_id: StreamUserId,
    container: ContainerDep,
    last_event_id: LastEventId = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> EventSourceResponse:
    service = container.run_service
    if body.message is not None:
        run = service.send_message(user_id, session_id, body.message, [], idempotency_key)
        cursor = None
    elif body.event_id is not None or last_event_id is not None:
        run = None
        raw = str(body.event_id) if body.event_id is not None else None
        cursor = use.parse_cursor(last_event_id, raw)
    else:
        raise InvalidValue("give a message, or an event_id to resume after")
    plan = use.open_chat_stream(
        user_id, session_id, run, cursor, container.sessions, container.runs, container.events
    )
    return event_stream(plan, container.events, request, container.settings, container.bell)

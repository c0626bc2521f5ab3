"""Runs (docs/api.md): send a message, read a run, cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, status

from riadex.entrypoints.http.dependencies import ContainerDep, UserId
from riadex.entrypoints.http.schemas import Envelope, RunAccepted, RunOut, SendMessage

router = APIRouter(tags=["runs"])


def events_url(run_id: str) -> str:
    return f"/api/v1/runs/{run_id}/events"


@router.post(
    "/sessions/{session_id}/messages",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a message: starts a run (202); 409 with active_run_id when the session is busy",
)
def send_message(
    session_id: str,
    body: SendMessage,
    user_id: UserId,
    container: ContainerDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Envelope[RunAccepted]:
    run = container.run_service.send_message(
        user_id, session_id, body.message, body.attachments, idempotency_key
    )
    return Envelope(
        data=RunAccepted(run_id=run.run_id, status=run.status.value, events_url=events_url(run.run_id))
    )


@router.get("/runs/{run_id}", summary="A run's status")
def get_run(run_id: str, user_id: UserId, container: ContainerDep) -> Envelope[RunOut]:
    return Envelope(data=RunOut.of(container.run_service.get_run(user_id, run_id)))


@router.post("/runs/{run_id}/cancel", summary="Cancel a run (idempotent; a finished run is returned as is)")
def cancel_run(run_id: str, user_id: UserId, container: ContainerDep) -> Envelope[RunOut]:
    return Envelope(data=RunOut.of(container.run_service.cancel(user_id, run_id)))

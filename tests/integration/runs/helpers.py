"""Small helpers shared by the run tests: a user with a session, and reading the log back.

Their deadlines catch a hang, not a slow run: on one loaded core (`taskset -c 0` with the machine busy)
a short run takes tens of seconds."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient
from httpx_sse import connect_sse

from riadex.bootstrap import Container
from riadex.domain.models import Event
from tests.support.invariants import check_run


def new_user(client: TestClient, name: str = "ada") -> dict[str, str]:
    token = client.post("/api/v1/users", json={"name": name}).json()["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


def new_session(client: TestClient, auth: dict[str, str]) -> str:
    response = client.put("/api/v1/sessions", headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["session_id"])


def send(client: TestClient, auth: dict[str, str], sid: str, message: str, **headers: str) -> Any:
    return client.post(
        f"/api/v1/sessions/{sid}/messages", json={"message": message}, headers={**auth, **headers}
    )


def wait_for_done(container: Container, sid: str, run_id: str, timeout: float = 60) -> list[Event]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = container.events.read(sid, 0, None)
        if any(e.type == "done" and e.run_id == run_id for e in events):
            check_run(events, run_id)
            return events
        time.sleep(0.05)
    raise AssertionError(f"no done for {run_id}: {[(e.seq, e.type, e.data) for e in events]}")


def wait_for_status(container: Container, run_id: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = container.runs.get(run_id)
        if run is not None and run.status.value == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{run_id} never became {status}")


def stream(
    client: TestClient, url: str, auth: dict[str, str], limit: int | None = None, **headers: str
) -> list[tuple[str, str, str]]:
    """(id, event, data) of the SSE messages until the server closes the stream (or `limit` of them)."""
    got: list[tuple[str, str, str]] = []
    with connect_sse(client, "GET", url, headers={**auth, **headers}) as source:
        assert source.response.status_code == 200, source.response.read()
        for sse in source.iter_sse():
            got.append((sse.id, sse.event, sse.data))
            if limit is not None and len(got) >= limit:
                break
    return got

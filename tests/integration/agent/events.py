"""Reading a run's events back and checking the invariants every run must keep (docs/api.md)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from riadex.bootstrap import Container
from riadex.domain.models import Event
from tests.support.invariants import check_run
from tests.support.settle import settle


def new_user(client: TestClient, name: str = "ada") -> dict[str, str]:
    token = client.post("/api/v1/users", json={"name": name}).json()["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


def new_session(client: TestClient, auth: dict[str, str]) -> str:
    response = client.put("/api/v1/sessions", headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["session_id"])


def send(client: TestClient, auth: dict[str, str], sid: str, message: str) -> dict[str, Any]:
    response = client.post(f"/api/v1/sessions/{sid}/messages", json={"message": message}, headers=auth)
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def wait_until(container: Container, sid: str, predicate: Any, timeout: float = 60) -> list[Event]:
    deadline = time.monotonic() + timeout
    events: list[Event] = []
    while time.monotonic() < deadline:
        events = container.events.read(sid, 0, None)
        if predicate(events):
            return events
        time.sleep(0.05)
    raise AssertionError(f"timed out; events so far: {describe(events)}")


def wait_for_done(container: Container, sid: str, run_id: str, timeout: float = 60) -> list[Event]:
    """The session's events once the run's `done` is written and its executions have ended and been
    finalized (nothing can write to the run afterwards)."""
    wait_until(container, sid, lambda es: any(e.type == "done" and e.run_id == run_id for e in es), timeout)
    settle(container.settings.state_machine_arn, run_id, timeout)
    events = container.events.read(sid, 0, None)
    check_run(events, run_id)
    return events


def describe(events: list[Event]) -> list[tuple[Any, ...]]:
    return [(e.seq, e.type, label(e)) for e in events]


def label(event: Event) -> str:
    data = event.data
    if event.type in ("run", "done", "sandbox", "step"):
        return str(data.get("status"))
    if event.type == "message":
        return str(data.get("role"))
    if event.type == "tool":
        return f"{data.get('function')}:{data.get('status')}"
    return ""


def run_events(events: list[Event], run_id: str) -> list[Event]:
    return [e for e in events if e.run_id == run_id]


def check_invariants(events: list[Event], run_id: str) -> list[Event]:
    """seq gap-free from 1; the run's events contiguous; one done, last; tool calls paired."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), describe(events)
    mine = run_events(events, run_id)
    seqs = [e.seq for e in mine]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"not contiguous: {describe(events)}"
    dones = [e for e in mine if e.type == "done"]
    assert len(dones) == 1, describe(mine)
    assert mine[-1].type == "done", describe(mine)
    assert mine[0].type == "run"
    assert mine[0].data["status"] == "queued"
    calling = [e.data["tool_call_id"] for e in mine if e.type == "tool" and e.data["status"] == "calling"]
    results = [e.data["tool_call_id"] for e in mine if e.type == "tool" and e.data["status"] != "calling"]
    assert len(set(calling)) == len(calling)
    assert len(set(results)) == len(results)
    assert set(results) <= set(calling)
    for e in mine:
        if e.type == "tool" and e.data["status"] != "calling":
            assert isinstance(e.data.get("duration_ms"), int) or e.data["function"] == "message_ask_user"
    return mine


def without_sandbox(events: list[Event]) -> list[tuple[str, str]]:
    """(type, label) in order, leaving out the sandbox events (they interleave with the planning) and
    the deltas (their number depends on timing)."""
    return [(e.type, label(e)) for e in events if e.type not in ("sandbox", "delta")]

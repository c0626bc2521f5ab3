"""Runs on the local stack over real HTTP with a real SSE client (httpx-sse)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from httpx_sse import connect_sse

from tests.e2e.conftest import Stack
from tests.e2e.stack import executions_ended
from tests.support.invariants import check_run

pytestmark = pytest.mark.e2e


def _post(stack: Stack, path: str, auth: dict[str, str], **kwargs: object) -> httpx.Response:
    return httpx.post(f"{stack.base}/api/v1{path}", headers=auth, timeout=30, **kwargs)  # type: ignore[arg-type]


def _wait_status(stack: Stack, auth: dict[str, str], run_id: str, wanted: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{stack.base}/api/v1/runs/{run_id}", headers=auth).json()["data"]["status"] == wanted:
            return
        time.sleep(0.05)
    raise AssertionError(f"{run_id} never became {wanted}")


def _follow(
    stack: Stack, auth: dict[str, str], url: str, cursor: str | None, stop_after: int | None
) -> list[dict[str, object]]:
    """Read a stream like a client that keeps its Last-Event-ID: through `reconnect`s, until `done`
    (or until `stop_after` events, when it drops the connection)."""
    got: list[dict[str, object]] = []
    with httpx.Client(timeout=30) as client:
        while True:
            headers = {**auth, **({"Last-Event-ID": cursor} if cursor else {})}
            with connect_sse(client, "GET", f"{stack.base}{url}", headers=headers) as source:
                for sse in source.iter_sse():
                    if sse.event == "reconnect":
                        break
                    got.append(json.loads(sse.data))
                    cursor = sse.id
                    if sse.event == "done" or (stop_after is not None and len(got) >= stop_after):
                        return got
            # the server rotated the stream: come back with the cursor, as EventSource does


def test_drop_mid_run_and_resume_gets_every_event_once_ending_in_done(stack: Stack) -> None:
    _, auth = stack.user()
    sid = stack.session(auth)
    accepted = _post(stack, f"/sessions/{sid}/messages", auth, json={"message": "!sleep 4\nhello"})
    assert accepted.status_code == 202
    run_id = accepted.json()["data"]["run_id"]
    url = accepted.json()["data"]["events_url"]

    first = _follow(stack, auth, url, None, stop_after=3)  # queued, message, running: then drop
    assert [e["seq"] for e in first] == [1, 2, 3]
    status = httpx.get(f"{stack.base}/api/v1/runs/{run_id}", headers=auth).json()["data"]["status"]
    assert status == "running"  # the client left; the run goes on

    rest = _follow(stack, auth, url, str(first[-1]["seq"]), stop_after=None)  # spans a reconnect
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1]["type"] == "done"
    assert rest[-1]["data"]["status"] == "completed"  # type: ignore[index]
    assert [e["type"] for e in first + rest].count("done") == 1
    check_run(first + rest, run_id)


def test_busy_session_409_then_cancel_running_and_queued(stack: Stack) -> None:
    _, auth = stack.user()
    sid = stack.session(auth)
    run_id = _post(stack, f"/sessions/{sid}/messages", auth, json={"message": "!sleep 30"}).json()["data"][
        "run_id"
    ]
    busy = _post(stack, f"/sessions/{sid}/messages", auth, json={"message": "again"})
    assert busy.status_code == 409
    assert busy.json()["data"] == {"active_run_id": run_id}
    _wait_status(stack, auth, run_id, "running")
    assert _post(stack, f"/runs/{run_id}/cancel", auth).json()["data"]["status"] == "cancelled"

    # A run cancelled right after it is accepted (usually still queued; the integration suite holds
    # the start task to make that certain): cancelled at once, whichever state it had reached.
    queued = _post(stack, f"/sessions/{sid}/messages", auth, json={"message": "!sleep 5"}).json()["data"]
    cancelled = _post(stack, f"/runs/{queued['run_id']}/cancel", auth).json()["data"]
    assert cancelled["status"] == "cancelled"

    for rid in (run_id, queued["run_id"]):  # nothing more runs for either run: then read the log
        executions_ended(stack.output, rid)
    events = httpx.get(f"{stack.base}/api/v1/sessions/{sid}", headers=auth).json()["data"]["events"]
    for rid in (run_id, queued["run_id"]):
        dones = [e["data"] for e in events if e["type"] == "done" and e["run_id"] == rid]
        assert [d["status"] for d in dones] == ["cancelled"]
        check_run(events, rid)  # the cancelled sleep's tool call is closed too
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_the_same_idempotency_key_twice_concurrently_is_one_run(stack: Stack) -> None:
    _, auth = stack.user()
    sid = stack.session(auth)

    def send(_: int) -> httpx.Response:
        return _post(
            stack,
            f"/sessions/{sid}/messages",
            {**auth, "Idempotency-Key": "e2e-key"},
            json={"message": "once"},
        )

    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(send, range(4)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["data"]["run_id"] for r in responses}) == 1

"""Resume (docs/api.md): for every cut point k, Last-Event-ID: k delivers exactly k+1..N, whether the run is
still writing or finished; plus the control lines (ping, reconnect, resync)."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riadex.adapters.dynamodb.tables import EventItem
from riadex.application import sessions as session_use
from riadex.bootstrap import Container
from riadex.domain.events import append_key
from riadex.domain.models import Run, RunStatus, utcnow
from riadex.entrypoints.http.app import create_app
from tests.integration.runs.helpers import new_session, new_user, stream

N = 12


class Writer:
    """Writes one run's N events (the last a done), with a small pause between them when `live`."""

    def __init__(self, container: Container, owner: str, live: bool) -> None:
        self.container = container
        self.sid = session_use.create_session(owner, None, container.sessions, 200).session_id
        self.run_id = f"run_{self.sid[4:]}"
        container.runs.create(Run(self.run_id, self.sid, owner, RunStatus.RUNNING, utcnow(), message="m"))
        self.live = live
        self.thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        for i in range(1, N + 1):
            kind = "done" if i == N else "step"
            data = {"status": "completed"} if kind == "done" else {"i": i}
            key = append_key(self.run_id, "done" if kind == "done" else str(i))
            self.container.events.append(self.sid, kind, data, key=key, run_id=self.run_id)
            if self.live:
                time.sleep(0.01)

    def wait_for_head(self, k: int) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            session = self.container.sessions.get(self.sid)
            if session is not None and session.last_seq >= k:
                return
            time.sleep(0.005)
        raise AssertionError("writer stalled")


@pytest.fixture(scope="module")
def owner(client: TestClient) -> tuple[str, dict[str, str]]:
    auth = new_user(client)
    token = auth["Authorization"].removeprefix("Bearer ")
    user_id = client.app.state.container.tokens.verify(token)  # type: ignore[attr-defined]
    return user_id, auth


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(min_value=0, max_value=N), live=st.booleans())
def test_resume_at_every_cut_point_gets_exactly_the_rest(
    client: TestClient, container: Container, owner: tuple[str, dict[str, str]], k: int, live: bool
) -> None:
    user_id, auth = owner
    writer = Writer(container, user_id, live)
    if not live:
        writer._write()
    else:
        writer.thread.start()
        writer.wait_for_head(k)  # a cursor must be one the client could have seen
    got = stream(client, f"/api/v1/runs/{writer.run_id}/events", auth, **{"Last-Event-ID": str(k)})
    writer.thread.join(timeout=20) if live else None
    assert [int(i) for i, _, _ in got] == list(range(k + 1, N + 1))
    if k < N:
        assert got[-1][1] == "done"


def test_a_stream_says_reconnect_before_its_maximum_duration_and_pings(container: Container) -> None:
    short = container.settings.model_copy(update={"stream_max_seconds": 1.2, "stream_ping_seconds": 0.3})
    app_container = dataclasses.replace(container, settings=short)
    with TestClient(create_app(app_container)) as client:
        auth = new_user(client)
        sid = new_session(client, auth)
        with client.stream("GET", f"/api/v1/sessions/{sid}/events", headers=auth) as response:
            body = response.read().decode().replace("\r\n", "\n")
    assert ": ping\n" in body
    blocks = [b for b in body.split("\n\n") if b.strip() and b.strip() != ": ping"]
    assert blocks == ['event: reconnect\ndata: {"after": 0}\nretry: 1000']


def test_a_cursor_older_than_retention_gets_resync(client: TestClient, container: Container) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    for i in range(5):
        container.events.append(sid, "step", {"i": i}, key=f"k{i}")
    for seq in (1, 2, 3):  # what TTL would have removed
        EventItem(session_id=sid, seq=seq).delete()
    got = stream(client, f"/api/v1/sessions/{sid}/events", auth, **{"Last-Event-ID": "1"})
    assert len(got) == 1
    assert got[0][1] == "resync"
    assert json.loads(got[0][2])["last_seq"] == 5
    assert got[0][0] == ""  # control lines carry no id
    # A cursor that still has its successor is served as usual.
    live = stream(client, f"/api/v1/sessions/{sid}/events", auth, limit=1, **{"Last-Event-ID": "3"})
    assert live[0][0] == "4"

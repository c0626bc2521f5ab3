"""SSE through the local stack at the default polling settings: latency, polling cost, resume cost.

- write-to-client latency: runs write events (each stamped `ts` when stored); a real SSE client on the
  session stream notes when each arrives. p50/p99 of arrival - ts, over every event of 20 runs. The
  local stack's appends wake its streams (AppendBell); in AWS a stream waits for its next poll.
- DynamoDB queries per second of one stream: idle (no run), and active (a run in progress that writes
  nothing for a while, the worst case for polling), counted at the event log's read: the adaptive
  polling AWS streams do (with no append to wake it, a local stream polls the same way).
- resume cost near the end of a 10,000-event session vs a 100-event one: time to the first event and
  Queries made for `Last-Event-ID: N-5`. A Query on `seq > cursor` reads only what follows the cursor,
  so the Queries and items read do not grow with history. (moto's Query filters the whole partition
  in Python, so its wall time does grow locally; DynamoDB's is a key-range read.)
"""

from __future__ import annotations

import dataclasses
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from httpx_sse import connect_sse

from riadex.adapters.dynamodb.tables import EventItem, SessionItem
from riadex.bootstrap import bootstrap
from riadex.config import Settings
from riadex.entrypoints.http.app import create_app
from riadex.entrypoints.local.stack import LocalStack

RUNS = 20
IDLE_SECONDS = 10.0
ACTIVE_SECONDS = 8.0
RESUME_TRIES = 15


class CountingReads:
    """The container's event log, counting the Queries streams make."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.queries = 0
        self.items = 0

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        found = self.inner.read(*args, **kwargs)
        self.items += len(found)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run() -> dict[str, object]:
    data_dir = Path(tempfile.mkdtemp(prefix="riadex-bench-"))
    settings = Settings(port=_free_port(), RIADEX_DATA_DIR=data_dir, auth_secret="b" * 48)
    stack = LocalStack(settings)
    settings = stack.start()
    container = stack.container or bootstrap(settings)  # the stack's: its appends ring the streams' bell
    counting = CountingReads(container.events)
    app = create_app(dataclasses.replace(container, events=counting))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{settings.port}/api/v1"
    try:
        while not server.started:
            time.sleep(0.05)
        token = httpx.post(f"{base}/users", json={"name": "bench"}).json()["data"]["token"]
        auth = {"Authorization": f"Bearer {token}"}
        figures: dict[str, object] = {}
        figures.update(_latency(base, auth))
        figures.update(_polling_cost(base, auth, counting))
        figures.update(_resume_cost(base, auth, container, counting))
        return figures
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        stack.stop()


def _latency(base: str, auth: dict[str, str]) -> dict[str, object]:
    sid = httpx.put(f"{base}/sessions", headers=auth).json()["data"]["session_id"]
    delays: list[float] = []
    dones = threading.Event()

    def listen() -> None:
        seen = 0
        with (
            httpx.Client(timeout=60) as client,
            connect_sse(client, "GET", f"{base}/sessions/{sid}/events", headers=auth) as source,
        ):
            for sse in source.iter_sse():
                if sse.event == "reconnect":
                    break
                if not sse.data:
                    continue  # a keep-alive comment (`: ping`), not an event
                arrived = time.time()
                delays.append((arrived - _parse(httpx.Response(200, content=sse.data).json()["ts"])) * 1000)
                if sse.event == "done":
                    seen += 1
                    if seen == RUNS:
                        dones.set()
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(1.0)
    for i in range(RUNS):
        run_id = httpx.post(
            f"{base}/sessions/{sid}/messages", headers=auth, json={"message": f"m{i}"}
        ).json()["data"]["run_id"]
        while httpx.get(f"{base}/runs/{run_id}", headers=auth).json()["data"]["status"] != "completed":
            time.sleep(0.05)
        time.sleep(0.3)  # a pause between turns, as a person would take
    dones.wait(60)
    return {
        "sse_latency_events": len(delays),
        "sse_latency_p50_ms": round(statistics.median(delays), 1),
        "sse_latency_p99_ms": round(_percentile(delays, 0.99), 1),
    }


def _count_queries(
    base: str, auth: dict[str, str], sid: str, seconds: float, counting: CountingReads
) -> float:
    stop = threading.Event()

    def listen() -> None:
        try:
            with (
                httpx.Client(timeout=seconds + 30) as client,
                connect_sse(client, "GET", f"{base}/sessions/{sid}/events", headers=auth) as source,
            ):
                for _ in source.iter_sse():
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            return  # the server went away at the end of the benchmark

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(1.0)  # past the stream's opening reads and its first back-off
    before = counting.queries
    time.sleep(seconds)
    rate = (counting.queries - before) / seconds
    stop.set()
    return round(rate, 2)


def _polling_cost(base: str, auth: dict[str, str], counting: CountingReads) -> dict[str, object]:
    idle_sid = httpx.put(f"{base}/sessions", headers=auth).json()["data"]["session_id"]
    idle = _count_queries(base, auth, idle_sid, IDLE_SECONDS, counting)
    active_sid = httpx.put(f"{base}/sessions", headers=auth).json()["data"]["session_id"]
    httpx.post(
        f"{base}/sessions/{active_sid}/messages",
        headers=auth,
        json={"message": f"!sleep {ACTIVE_SECONDS + 3}"},
    )
    active = _count_queries(base, auth, active_sid, ACTIVE_SECONDS, counting)
    return {"dynamodb_queries_per_s_idle_stream": idle, "dynamodb_queries_per_s_active_stream": active}


def _seed(container: Any, owner_sid: str, count: int) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    with EventItem.batch_write() as batch:
        for seq in range(1, count + 1):
            batch.save(
                EventItem(
                    session_id=owner_sid,
                    seq=seq,
                    run_id=None,
                    type="step",
                    ts=now,
                    data={"n": seq, "pad": "x" * 200},
                )
            )
    SessionItem(session_id=owner_sid).update(actions=[SessionItem.last_seq.set(count)])


def _resume_cost(
    base: str, auth: dict[str, str], container: Any, counting: CountingReads
) -> dict[str, object]:
    figures: dict[str, object] = {}
    for size in (100, 10_000):
        sid = httpx.put(f"{base}/sessions", headers=auth).json()["data"]["session_id"]
        _seed(container, sid, size)
        times: list[float] = []
        queries: list[int] = []
        items: list[int] = []
        with httpx.Client(timeout=30) as client:
            for _ in range(RESUME_TRIES):
                before, items_before = counting.queries, counting.items
                started = time.perf_counter()
                headers = {**auth, "Last-Event-ID": str(size - 5)}
                with connect_sse(client, "GET", f"{base}/sessions/{sid}/events", headers=headers) as source:
                    for sse in source.iter_sse():
                        assert sse.id == str(size - 4)
                        break
                times.append((time.perf_counter() - started) * 1000)
                queries.append(counting.queries - before)
                items.append(counting.items - items_before)
        label = f"{size // 1000}k" if size >= 1000 else str(size)
        figures[f"resume_first_event_ms_{label}_events"] = round(statistics.median(times), 1)
        figures[f"resume_queries_{label}_events"] = max(queries)
        figures[f"resume_items_read_{label}_events"] = max(items)
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:45} {value}")

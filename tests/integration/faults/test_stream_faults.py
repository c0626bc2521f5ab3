"""The session stream under hostile clients, over real HTTP (uvicorn on loopback) with a live writer:
a client that drops after every event and resumes (at every cut point, 100+ times), a client too slow
to read, and 200 clients on one session. Each sees every event once, in order, with no gap."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from httpx_sse import ServerSentEvent, aconnect_sse, connect_sse

from riadex.adapters.dynamodb import tables
from riadex.bootstrap import Container, bootstrap
from riadex.entrypoints.http.app import create_app
from tests.conftest import make_settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(moto_endpoint: str) -> Iterator[tuple[Container, str]]:
    # The default polling (what `make dev` serves): 200 clients at the tests' fast polling would be
    # thousands of queries a second against moto.
    settings = make_settings(moto_endpoint, stream_max_seconds=20)
    container = bootstrap(settings)
    tables.create_all()
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield container, f"http://127.0.0.1:{server.config.port}/api/v1"
    server.should_exit = True
    thread.join(10)


STREAM_CONTROL = ("reconnect", "resync")
FRESH_CONNECTIONS = httpx.Limits(max_keepalive_connections=0)
"""Each (re)connect on a new connection, as EventSource does: a stream the server ended leaves its
connection idle in the pool, and a reconnect sent on it as the server's keep-alive timeout closes it
fails with ReadError (seen with 200 clients on one loaded core: the streams ran into
stream_max_seconds while the others connected, and their reconnects raced uvicorn's 5 s timeout)."""


def _event(sse: ServerSentEvent) -> bool:
    """A stored event: not a stream control message (httpx_sse repeats the last id on those), and not
    the empty message httpx_sse makes of a ping comment once an id was seen (EventSource drops it)."""
    return sse.event not in STREAM_CONTROL and bool(sse.data)


def _session(base: str) -> tuple[dict[str, str], str]:
    token = httpx.post(f"{base}/users", json={"name": "streamer"}).json()["data"]["token"]
    auth = {"Authorization": f"Bearer {token}"}
    return auth, httpx.put(f"{base}/sessions", headers=auth).json()["data"]["session_id"]


def _writer(container: Container, sid: str, count: int, pause: float, size: int = 10) -> threading.Thread:
    def write() -> None:
        for n in range(count):
            container.events.append(sid, "file", {"n": n, "pad": "x" * size}, key=f"w/{n}")
            time.sleep(pause)  # the writer's pace, not a wait for anything

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_client_that_drops_after_every_event_and_resumes_misses_nothing(
    served: tuple[Container, str],
) -> None:
    container, base = served
    auth, sid = _session(base)
    total = 110
    writer = _writer(container, sid, total, 0.01)
    got: list[int] = []
    reconnects = 0
    deadline = time.monotonic() + 120
    with httpx.Client(timeout=30, limits=FRESH_CONNECTIONS) as client:
        while len(got) < total:
            assert time.monotonic() < deadline, f"stalled at {len(got)} after {reconnects} reconnects"
            headers = {**auth, **({"Last-Event-ID": str(got[-1])} if got else {})}
            with connect_sse(client, "GET", f"{base}/sessions/{sid}/events", headers=headers) as source:
                for sse in source.iter_sse():
                    if _event(sse):
                        got.append(int(sse.id))
                        break  # drop the connection right after this event
            reconnects += 1
    writer.join(30)
    assert got == list(range(1, total + 1))
    assert reconnects >= 100


def test_a_slow_reader_gets_everything_and_does_not_hold_back_a_fast_one(
    served: tuple[Container, str],
) -> None:
    container, base = served
    auth, sid = _session(base)
    total = 60
    fast: list[int] = []
    slow: list[int] = []

    def read(into: list[int], pause: float) -> None:
        with httpx.Client(timeout=60, limits=FRESH_CONNECTIONS) as client:
            while len(into) < total:  # resuming when the server ends the stream (stream_max_seconds)
                headers = {**auth, **({"Last-Event-ID": str(into[-1])} if into else {})}
                with connect_sse(client, "GET", f"{base}/sessions/{sid}/events", headers=headers) as source:
                    for sse in source.iter_sse():
                        if not _event(sse):
                            continue
                        into.append(int(sse.id))
                        if len(into) == total:
                            return
                        time.sleep(pause)  # a client that reads slowly (its own pace)

    readers = [
        threading.Thread(target=read, args=(slow, 0.1), daemon=True),
        threading.Thread(target=read, args=(fast, 0), daemon=True),
    ]
    for reader in readers:
        reader.start()
    _writer(container, sid, total, 0, size=20_000).join(60)  # ~1.2 MB, faster than the slow one reads
    readers[1].join(30)
    assert fast == list(range(1, total + 1))
    assert len(slow) < total  # the fast reader finished while the slow one was still reading
    readers[0].join(60)
    assert slow == list(range(1, total + 1))


def test_200_clients_on_one_session_each_get_every_event_once(served: tuple[Container, str]) -> None:
    container, base = served
    auth, sid = _session(base)
    total, clients = 10, 200
    connected = 0

    async def listen(client: httpx.AsyncClient) -> list[int]:
        nonlocal connected
        seen: list[int] = []
        first = True
        while len(seen) < total:  # resuming when the server ends the stream (stream_max_seconds)
            headers = {**auth, **({"Last-Event-ID": str(seen[-1])} if seen else {})}
            async with aconnect_sse(
                client, "GET", f"{base}/sessions/{sid}/events", headers=headers
            ) as source:
                if first:
                    connected += 1
                    first = False
                async for sse in source.aiter_sse():
                    if not _event(sse):
                        continue
                    seen.append(int(sse.id))
                    if len(seen) == total:
                        break
        return seen

    async def main() -> list[Any]:
        limits = httpx.Limits(
            max_connections=clients + 10, max_keepalive_connections=0
        )  # see FRESH_CONNECTIONS
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            tasks = [asyncio.create_task(listen(client)) for _ in range(clients)]
            deadline = time.monotonic() + 60
            while connected < clients:  # every client is streaming before the writer starts
                assert time.monotonic() < deadline, f"only {connected} clients connected"
                await asyncio.sleep(0.05)
            await asyncio.to_thread(lambda: _writer(container, sid, total, 0.02).join(60))
            return await asyncio.wait_for(asyncio.gather(*tasks), 120)

    results = asyncio.run(main())
    wrong = [seen for seen in results if seen != list(range(1, total + 1))]
    assert not wrong, f"{len(wrong)} of {clients} clients saw something else, e.g. {wrong[:3]}"

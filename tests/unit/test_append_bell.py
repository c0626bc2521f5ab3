"""The local stack's append bell: a stream waiting on a session wakes when another thread appends."""

from __future__ import annotations

import asyncio
import threading
import time

from riadex.application.append_bell import AppendBell


def test_an_append_from_another_thread_wakes_the_waiting_stream_at_once() -> None:
    bell = AppendBell()

    async def scenario() -> tuple[bool, float]:
        seen = bell.version("ses_a")
        timer = threading.Timer(0.05, bell.ring, args=("ses_a",))
        started = time.monotonic()
        timer.start()
        woken = await bell.wait("ses_a", seen, 5.0)
        return woken, time.monotonic() - started

    woken, waited = asyncio.run(scenario())
    assert woken
    assert waited < 1.0  # the 5 s fallback did not run out


def test_an_append_between_the_read_and_the_wait_is_not_missed() -> None:
    bell = AppendBell()
    seen = bell.version("ses_a")
    bell.ring("ses_a")  # lands after the stream read, before it waits
    assert asyncio.run(bell.wait("ses_a", seen, 5.0)) is True


def test_another_sessions_append_does_not_wake_it_and_the_wait_times_out() -> None:
    bell = AppendBell()

    async def scenario() -> bool:
        seen = bell.version("ses_a")
        threading.Timer(0.01, bell.ring, args=("ses_b",)).start()
        return await bell.wait("ses_a", seen, 0.2)

    assert asyncio.run(scenario()) is False
    assert bell._waiters == {}  # nothing left registered

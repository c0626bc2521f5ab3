"""Streams woken by the append instead of by their next poll, where the writers share the process.

The local stack runs the API, the streams and the loop's tasks in one process: an append rings the
session's bell, and every stream waiting on that session wakes at once (within a millisecond instead
of within a poll interval). In AWS the writers are other Lambdas, so there is no bell and streams keep
polling adaptively (PollPacing).

A stream takes the session's `version` before it reads; `wait` returns at once if an append rang
since, so an append that lands between the read and the wait is not missed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from riadex.application.ports import EventLog
from riadex.domain.models import Event, RunStatus


class AppendBell:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def version(self, session_id: str) -> int:
        with self._lock:
            return self._versions.get(session_id, 0)

    def ring(self, session_id: str) -> None:
        with self._lock:
            self._versions[session_id] = self._versions.get(session_id, 0) + 1
            waiters = list(self._waiters.get(session_id, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def wait(self, session_id: str, seen: int, seconds: float) -> bool:
        """Until an append after version `seen`, or `seconds`; True when woken by an append."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._versions.get(session_id, 0) != seen:
                return True
            self._waiters.setdefault(session_id, set()).add(waiter)
        try:
            async with asyncio.timeout(seconds):
                await waiter[1].wait()
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(session_id)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._waiters[session_id]


class RingingEventLog:
    """An EventLog that rings the bell after each append (and each delete, so streams notice)."""

    def __init__(self, inner: EventLog, bell: AppendBell) -> None:
        self.inner = inner
        self.bell = bell

    def read(self, session_id: str, after: int, limit: int | None, *, consistent: bool = True) -> list[Event]:
        return self.inner.read(session_id, after, limit, consistent=consistent)

    def append(
        self,
        session_id: str,
        type: str,
        data: dict[str, Any],
        *,
        key: str,
        run_id: str | None = None,
        while_run_in: frozenset[RunStatus] | None = None,
        to_active_run: bool = False,
    ) -> Event:
        event = self.inner.append(
            session_id,
            type,
            data,
            key=key,
            run_id=run_id,
            while_run_in=while_run_in,
            to_active_run=to_active_run,
        )
        self.bell.ring(session_id)
        return event

    def append_many(
        self,
        session_id: str,
        entries: Sequence[tuple[str, dict[str, Any], str]],
        *,
        run_id: str,
        while_run_in: frozenset[RunStatus] | None = None,
    ) -> list[Event]:
        events = self.inner.append_many(session_id, entries, run_id=run_id, while_run_in=while_run_in)
        self.bell.ring(session_id)
        return events

    def find(self, session_id: str, key: str) -> Event | None:
        return self.inner.find(session_id, key)

    def delete_all(self, session_id: str) -> None:
        self.inner.delete_all(session_id)
        self.bell.ring(session_id)

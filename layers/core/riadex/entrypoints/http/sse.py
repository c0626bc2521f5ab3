"""The SSE side of a stream (docs/api.md): poll the log from a cursor and frame events with sse-starlette.

The loop reads `seq > cursor` (eventually consistent, half the cost; a gap means the read lagged, so it
stops there and the next read is strongly consistent), delivers each seq once, and paces itself with
PollPacing — or, on the local stack, wakes as soon as an append rings the session's bell (AppendBell).
It ends on its own: after the run's `done`, with `event: reconnect` before the maximum
stream duration, or when the client goes away (sse-starlette cancels it on a failed write). Nothing here
touches the run: a client leaving never cancels it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from riadex.application import telemetry
from riadex.application.append_bell import AppendBell
from riadex.application.ports import EventLog
from riadex.application.streams import PollPacing, StreamPlan, ends_stream
from riadex.config import Settings
from riadex.domain.events import EventType
from riadex.entrypoints.http.schemas import EventOut

PAGE = 100
RECONNECT_RETRY_MS = 1000


def pacing_of(settings: Settings) -> PollPacing:
    return PollPacing(
        fast=settings.stream_poll_fast_seconds,
        active_max=settings.stream_poll_active_max_seconds,
        idle_max=settings.stream_poll_idle_max_seconds,
    )


async def follow(
    plan: StreamPlan,
    events: EventLog,
    request: Request,
    pacing: PollPacing,
    max_seconds: float,
    bell: AppendBell | None = None,
) -> AsyncIterator[ServerSentEvent]:
    if plan.resync:
        reason = "the cursor is older than the events still kept; reload the session"
        yield ServerSentEvent(event="resync", data=json.dumps({"reason": reason, "last_seq": plan.head}))
        return
    if plan.finished:
        return
    deadline = time.monotonic() + max_seconds
    cursor, active, consistent = plan.after, plan.active, False
    interval = pacing.fast
    while True:
        rung = bell.version(plan.session_id) if bell is not None else 0
        batch = await run_in_threadpool(events.read, plan.session_id, cursor, PAGE, consistent=consistent)
        delivered, consistent = False, False
        for event in batch:
            if event.seq != cursor + 1:
                consistent = True  # a lagging replica: re-read from the gap, strongly consistent
                break
            cursor, delivered = event.seq, True
            if event.type == EventType.DONE:
                active = False
            elif event.type == EventType.RUN:
                active = True
            if plan.run_id is None or event.run_id == plan.run_id:
                yield ServerSentEvent(
                    id=str(event.seq), event=event.type, data=EventOut.of(event).model_dump_json()
                )
            if ends_stream(plan, event):
                return
        if plan.close_at_head and cursor >= plan.head:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            yield ServerSentEvent(
                event="reconnect", data=json.dumps({"after": cursor}), retry=RECONNECT_RETRY_MS
            )
            return
        if delivered and len(batch) == PAGE:
            continue  # more is waiting: no pause
        if await request.is_disconnected():
            return
        interval = pacing.next_interval(interval, delivered, active)
        if bell is not None:  # the local stack: the next append wakes the stream at once
            await bell.wait(plan.session_id, rung, min(interval, remaining))
        else:
            await asyncio.sleep(min(interval, remaining))


async def _timed(stream: AsyncIterator[ServerSentEvent]) -> AsyncIterator[ServerSentEvent]:
    """The stream, its duration reported when it ends (the `StreamSeconds` metric)."""
    started = time.monotonic()
    try:
        async for message in stream:
            yield message
    finally:
        telemetry.emit("StreamSeconds", time.monotonic() - started, "Seconds")


def event_stream(
    plan: StreamPlan,
    events: EventLog,
    request: Request,
    settings: Settings,
    bell: AppendBell | None = None,
) -> EventSourceResponse:
    stream = follow(plan, events, request, pacing_of(settings), settings.stream_max_seconds, bell)
    return EventSourceResponse(
        _timed(stream),
        ping=settings.stream_ping_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
    )

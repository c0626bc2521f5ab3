"""The event log on DynamoDB (moto): gap-free seq under concurrency, idempotent appends, retention,
the open-run guard and large outputs in S3."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from riadex.adapters.dynamodb.tables import EventItem
from riadex.adapters.storage.s3 import S3ObjectStore
from riadex.application import sessions as session_use
from riadex.bootstrap import Container
from riadex.domain.errors import NotFound, RunNotOpen
from riadex.domain.models import OPEN_RUN_STATUSES, Run, RunStatus, utcnow


@pytest.fixture
def sid(container: Container) -> str:
    return session_use.create_session("usr_a", None, container.sessions, 200).session_id


def test_concurrent_appends_are_numbered_1_to_n_without_gap_or_repeat(container: Container, sid: str) -> None:
    writers, each = 12, 6

    def write(writer: int) -> list[int]:
        return [
            container.events.append(sid, "step", {"w": writer, "i": i}, key=f"w{writer}-{i}").seq
            for i in range(each)
        ]

    with ThreadPoolExecutor(writers) as pool:
        seqs = [seq for batch in pool.map(write, range(writers)) for seq in batch]
    total = writers * each
    assert sorted(seqs) == list(range(1, total + 1))
    stored = container.events.read(sid, 0, None)
    assert [e.seq for e in stored] == list(range(1, total + 1))
    assert len({(e.data["w"], e.data["i"]) for e in stored}) == total
    session = container.sessions.get(sid)
    assert session is not None
    assert session.last_seq == total


def test_a_retried_append_is_stored_once_even_concurrently(container: Container, sid: str) -> None:
    first = container.events.append(sid, "message", {"n": 1}, key="run_x/reply")
    again = container.events.append(sid, "message", {"n": 2}, key="run_x/reply")
    assert again == first

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: container.events.append(sid, "t", {}, key="same"), range(8)))
    assert len({e.seq for e in results}) == 1
    assert [e.seq for e in container.events.read(sid, 0, None)] == [1, 2]
    assert container.events.find(sid, "same") == results[0]


def test_events_expire_after_the_retention(container: Container, sid: str) -> None:
    event = container.events.append(sid, "title", {"title": "x"}, key="k")
    item = EventItem.get(sid, event.seq)
    days = container.settings.event_retention_days
    assert item.expires_at is not None
    assert abs(item.expires_at.timestamp() - (time.time() + days * 86400)) < 60


def _new_run(container: Container, sid: str, digit: str, status: RunStatus = RunStatus.RUNNING) -> str:
    run_id = "run_" + digit * 32
    container.runs.create(
        Run(run_id=run_id, session_id=sid, owner_id="usr_a", status=status, created_at=utcnow(), message="m")
    )
    return run_id


def test_a_worker_write_for_a_closed_run_is_refused_and_writes_nothing(
    container: Container, sid: str
) -> None:
    run_id = _new_run(container, sid, "0", RunStatus.QUEUED)
    container.events.append(
        sid, "run", {"status": "queued"}, key="q", run_id=run_id, while_run_in=OPEN_RUN_STATUSES
    )
    container.runs.transition(run_id, {RunStatus.QUEUED}, RunStatus.CANCELLED)
    with pytest.raises(RunNotOpen):
        container.events.append(sid, "message", {}, key="late", run_id=run_id, while_run_in=OPEN_RUN_STATUSES)
    assert [e.seq for e in container.events.read(sid, 0, None)] == [1]


def test_several_events_in_one_write_interleave_with_other_writers_without_gap(
    container: Container, sid: str
) -> None:
    """append_many (a step's boundary) takes consecutive seqs in one transaction, while single
    appends of other writers race it: the log stays gap-free, each batch contiguous and in order."""
    run_id = _new_run(container, sid, "3")

    def batch(i: int) -> list[int]:
        entries = [("step", {"i": i, "j": j}, f"{run_id}/b{i}/{j}") for j in range(3)]
        return [
            e.seq
            for e in container.events.append_many(sid, entries, run_id=run_id, while_run_in=OPEN_RUN_STATUSES)
        ]

    def single(i: int) -> list[int]:
        return [container.events.append(sid, "tool", {"i": i}, key=f"s{i}").seq]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: batch(i) if i % 2 else single(i), range(16)))
    for seqs in results[1::2]:
        assert seqs == list(range(seqs[0], seqs[0] + 3))
    stored = container.events.read(sid, 0, None)
    assert [e.seq for e in stored] == list(range(1, 8 * 3 + 8 + 1))
    for event in stored:
        if event.type == "step":
            assert event.seq == next(r for r in results[1::2] if event.seq in r)[event.data["j"]]


def test_a_retried_batch_returns_what_was_stored_and_stores_only_the_missing(
    container: Container, sid: str
) -> None:
    run_id = _new_run(container, sid, "4")
    entries = [("step", {"j": j}, f"{run_id}/end/{j}") for j in range(3)]
    first = container.events.append_many(sid, entries[:2], run_id=run_id)
    container.events.append(sid, "tool", {}, key="between")
    again = container.events.append_many(sid, entries, run_id=run_id)
    assert again[:2] == first
    assert again[2].seq == 4
    assert [e.seq for e in container.events.read(sid, 0, None)] == [1, 2, 3, 4]


def test_a_batch_for_a_closed_run_is_refused_and_writes_nothing(container: Container, sid: str) -> None:
    run_id = _new_run(container, sid, "5")
    container.runs.transition(run_id, {RunStatus.RUNNING}, RunStatus.CANCELLING)
    entries = [("step", {"j": j}, f"{run_id}/late/{j}") for j in range(3)]
    with pytest.raises(RunNotOpen):
        container.events.append_many(sid, entries, run_id=run_id, while_run_in=OPEN_RUN_STATUSES)
    assert container.events.read(sid, 0, None) == []
    assert container.events.find(sid, f"{run_id}/late/0") is None


def test_a_session_level_fact_joins_the_active_run_until_its_done(container: Container, sid: str) -> None:
    """A sandbox event belongs to the run in progress (whichever run caused it), and to no run once
    that run's `done` is stored: every run's events stay contiguous, none follows its `done`."""
    run_id = "run_" + "2" * 32
    container.runs.create(
        Run(
            run_id=run_id,
            session_id=sid,
            owner_id="usr_a",
            status=RunStatus.QUEUED,
            created_at=utcnow(),
            message="m",
        )
    )
    older = "run_" + "3" * 32
    during = container.events.append(sid, "sandbox", {}, key="during", run_id=older, to_active_run=True)
    container.events.append(sid, "done", {}, key=f"{run_id}/done", run_id=run_id)
    after_done = container.events.append(sid, "sandbox", {}, key="after", run_id=run_id, to_active_run=True)
    container.runs.release_session(sid, run_id, utcnow())
    idle = container.events.append(sid, "sandbox", {}, key="idle", run_id=run_id, to_active_run=True)
    assert (during.run_id, after_done.run_id, idle.run_id) == (run_id, None, None)
    assert [(e.type, e.run_id) for e in container.events.read(sid, 0, None)] == [
        ("sandbox", run_id),
        ("done", run_id),
        ("sandbox", None),
        ("sandbox", None),
    ]


def test_appending_to_a_deleted_session_is_not_found(container: Container, sid: str) -> None:
    container.sessions.delete(sid)
    with pytest.raises(NotFound):
        container.events.append(sid, "t", {}, key="k")


def test_large_tool_output_goes_to_s3_and_the_event_points_at_it(container: Container, sid: str) -> None:
    run = Run(
        run_id="run_" + "1" * 32,
        session_id=sid,
        owner_id="usr_a",
        status=RunStatus.QUEUED,
        created_at=utcnow(),
        message="m",
    )
    container.runs.create(run)
    output = "line of output\n" * 5000
    event = container.run_events.tool(
        run,
        "call-1",
        {"tool_call_id": "call-1", "name": "shell", "status": "called", "content": {"output": output}},
    )
    stored = container.events.read(sid, 0, None)[-1]
    assert stored.data == event.data
    assert len(stored.data["content"]["output"]) <= container.settings.inline_output_chars + 20
    ref = stored.data["truncated"]["ref"]
    bucket, key = ref.removeprefix("s3://").split("/", 1)
    assert bucket == container.settings.objects_bucket
    assert isinstance(container.objects, S3ObjectStore)
    assert container.objects.get_text(key) == '{"output":' + json.dumps(output) + "}"

"""The DynamoDB repositories against moto, through pynamodb."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from riadex.adapters.dynamodb.repositories import DynamoEventLog, DynamoSessionRepository, encode_cursor
from riadex.adapters.dynamodb.tables import EventItem
from riadex.bootstrap import Container
from riadex.domain import ids
from riadex.domain.errors import InvalidInput
from riadex.domain.models import Session, utcnow


def _session(owner: str, minutes_ago: int, title: str) -> Session:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return Session(session_id=ids.new_id("ses"), owner_id=owner, title=title, created_at=at, updated_at=at)


class TestSessions:
    def test_round_trip(self, container: Container) -> None:
        repo = DynamoSessionRepository()
        session = _session("usr_a", 0, "hello")
        repo.add(session)
        assert repo.get(session.session_id) == session
        assert repo.get(ids.new_id("ses")) is None

    def test_list_is_newest_first_and_pages_with_cursor(self, container: Container) -> None:
        repo = DynamoSessionRepository()
        made = [_session("usr_a", minutes, f"s{minutes}") for minutes in range(5)]
        for session in made:
            repo.add(session)
        repo.add(_session("usr_b", 0, "not mine"))

        first = repo.list_for_owner("usr_a", 2, None)
        second = repo.list_for_owner("usr_a", 2, first.next_cursor)
        third = repo.list_for_owner("usr_a", 2, second.next_cursor)

        titles = [s.title for page in (first, second, third) for s in page.items]
        assert titles == ["s0", "s1", "s2", "s3", "s4"]
        assert third.next_cursor is None
        exact = repo.list_for_owner("usr_a", 5, None)
        assert len(exact.items) == 5
        assert exact.next_cursor is None

    def test_another_owners_cursor_is_refused(self, container: Container) -> None:
        repo = DynamoSessionRepository()
        for minutes in range(3):
            repo.add(_session("usr_a", minutes, "x"))
        page = repo.list_for_owner("usr_a", 1, None)
        assert page.next_cursor is not None
        with pytest.raises(InvalidInput):
            repo.list_for_owner("usr_b", 1, page.next_cursor)

    @pytest.mark.parametrize(
        "cursor",
        [
            "not base64!",
            "e30",
            encode_cursor({"session_id": {"S": "x"}}),
            encode_cursor({"a": 1, "b": 2, "c": 3}),
        ],
    )
    def test_malformed_cursor(self, container: Container, cursor: str) -> None:
        with pytest.raises(InvalidInput):
            DynamoSessionRepository().list_for_owner("usr_a", 1, cursor)


class TestEvents:
    def test_read_after_and_delete_all(self, container: Container) -> None:
        sid = ids.new_id("ses")
        for seq in range(1, 31):
            EventItem(
                session_id=sid, seq=seq, type="message", ts="2026-01-01T00:00:00.000000Z", data={"n": seq}
            ).save()
        log = DynamoEventLog()
        assert [e.seq for e in log.read(sid, 25, None)] == [26, 27, 28, 29, 30]
        assert [e.data["n"] for e in log.read(sid, 0, 3)] == [1, 2, 3]
        log.delete_all(sid)
        assert log.read(sid, 0, None) == []


def test_a_database_failure_is_a_retryable_storage_error_and_a_transient_task_error(
    container: Container,
) -> None:
    """pynamodb's errors stop in the adapters; the task entrypoints see `retryable` and nothing else."""
    from riadex.adapters.dynamodb.tables import RunItem
    from riadex.domain.errors import StorageUnavailable
    from riadex.entrypoints.tasks.handlers import TransientError, make_handlers

    RunItem.delete_table()
    with pytest.raises(StorageUnavailable) as caught:
        container.runs.get(ids.new_id("run"))
    assert caught.value.retryable
    start_run = make_handlers(lambda: container.run_service)["start-run"]
    with pytest.raises(TransientError, match="storage unavailable"):
        start_run({"run_id": ids.new_id("run")}, None)


def test_a_run_conversation_snapshot_lives_in_the_run_item_or_in_s3_when_large(container: Container) -> None:
    import os

    from riadex.adapters.dynamodb.conversations import DynamoConversationStore
    from riadex.adapters.dynamodb.tables import RunItem
    from riadex.domain.models import Run, RunStatus
    from riadex.entrypoints.local.agent_workflow import ensure_bucket

    ensure_bucket(container.settings.aws_region, container.settings.objects_bucket)
    session = _session("usr_a", 0, "t")
    DynamoSessionRepository().add(session)
    run = Run(
        run_id=ids.new_id("run"),
        session_id=session.session_id,
        owner_id="usr_a",
        status=RunStatus.QUEUED,
        created_at=utcnow(),
        message="m",
    )
    container.runs.create(run)
    store = DynamoConversationStore(container.file_store, inline_bytes=4096)
    assert store.load(run.run_id) is None
    small = {"cursor": 3, "conversation": {"out": [{"role": "user", "content": "hi"}]}}
    store.save(run.run_id, small)
    assert store.load(run.run_id) == small
    large = {"cursor": 9, "blob": os.urandom(8192).hex()}  # does not compress below the inline limit
    store.save(run.run_id, large)
    item = RunItem.get(run.run_id)
    assert item.conversation is None
    assert item.conversation_ref == f"runs/{run.run_id}/conversation.json.z"
    assert store.load(run.run_id) == large
    store.save(ids.new_id("run"), small)  # a run that is gone: nothing written, no error


def test_appends_read_the_head_only_when_another_writer_moved_it(container: Container) -> None:
    """Each log tries the head it last saw (its own last append, its last read to the end) before
    reading the session: a task's appends in a row cost one TransactWriteItems each, and a writer that
    moved the head meanwhile costs the other one failed transaction and a read, never a gap."""
    from riadex.adapters.dynamodb.tables import SessionItem

    session = _session("usr_a", 0, "heads")
    DynamoSessionRepository().add(session)
    sid = session.session_id
    calls: list[str] = []

    def count(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "TransactWriteItems" or params.get("TableName") == SessionItem.Meta.table_name:
            calls.append(model.name)

    clients = {id(c): c for c in (m._get_connection().connection.client for m in (SessionItem, EventItem))}
    for client in clients.values():
        client.meta.events.register("provide-client-params.dynamodb.*", count, unique_id="heads-test")
    try:
        first, second = DynamoEventLog(), DynamoEventLog()
        seqs = [first.append(sid, "file", {}, key=f"a/{n}").seq for n in range(3)]
        assert calls == ["GetItem", "TransactWriteItems", "TransactWriteItems", "TransactWriteItems"]
        calls.clear()
        seqs += [second.append(sid, "file", {}, key=f"b/{n}").seq for n in range(2)]
        seqs += [first.append(sid, "file", {}, key=f"a/{n}").seq for n in range(3, 5)]
        # second reads once; first's known head (3) is stale: one failed transaction, one read
        assert calls == ["GetItem"] + ["TransactWriteItems"] * 3 + ["GetItem"] + ["TransactWriteItems"] * 2
        calls.clear()
        assert [e.seq for e in second.read(sid, 4, None)] == [5, 6, 7]  # a read to the end
        second.append(sid, "file", {}, key="b/2")
        assert calls == ["TransactWriteItems"]
        assert seqs == [1, 2, 3, 4, 5, 6, 7]
        assert [e.seq for e in first.read(sid, 0, None)] == list(range(1, 9))
    finally:
        for client in clients.values():
            client.meta.events.unregister("provide-client-params.dynamodb.*", unique_id="heads-test")

"""The repositories of riadex.application.ports over the pynamodb tables."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from riadex.adapters.dynamodb.errors import storage_errors
from riadex.adapters.dynamodb.tables import EventItem, RunItem, SandboxMap, SessionItem, UserItem
from riadex.domain.errors import InvalidInput, NotFound, RunNotOpen
from riadex.domain.events import append_key
from riadex.domain.models import (
    Event,
    Page,
    RunStatus,
    SandboxInfo,
    Session,
    SessionStatus,
    Takeover,
    User,
    iso,
    utcnow,
)


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@storage_errors
class DynamoUserRepository:
    def add(self, user: User) -> None:
        UserItem(user_id=user.user_id, name=user.name, created_at=iso(user.created_at)).save(
            condition=UserItem.user_id.does_not_exist()
        )

    def get(self, user_id: str) -> User | None:
        try:
            item = UserItem.get(user_id)
        except DoesNotExist:
            return None
        return User(user_id=item.user_id, name=item.name, created_at=_parse(item.created_at))


def _session_from_item(item: SessionItem) -> Session:
    sandbox = item.sandbox
    return Session(
        session_id=item.session_id,
        owner_id=item.owner_id,
        title=item.title,
        status=SessionStatus(item.status),
        created_at=_parse(item.created_at),
        updated_at=_parse(item.updated_at),
        active_run_id=item.active_run_id,
        last_seq=int(item.last_seq),
        sandbox=SandboxInfo(status=sandbox.status, backend=sandbox.backend) if sandbox else None,
        takeover=(
            Takeover(item.takeover_id, _parse(item.takeover_since or item.updated_at))
            if item.takeover_id
            else None
        ),
    )


def encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, expected_keys: set[str]) -> dict[str, Any]:
    """The exclusive start key behind a cursor; InvalidInput unless it is exactly one of ours."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is malformed") from None
    if not isinstance(key, dict) or set(key) != expected_keys:
        raise InvalidInput("cursor is malformed")
    for value in key.values():
        if not (isinstance(value, dict) and len(value) == 1 and isinstance(value.get("S"), str)):
            raise InvalidInput("cursor is malformed")
    return key


@storage_errors
class DynamoSessionRepository:
    _CURSOR_KEYS = {"session_id", "owner_id", "created_at"}

    def add(self, session: Session) -> None:
        SessionItem(
            session_id=session.session_id,
            owner_id=session.owner_id,
            title=session.title,
            status=session.status.value,
            created_at=iso(session.created_at),
            updated_at=iso(session.updated_at),
            active_run_id=session.active_run_id,
            last_seq=session.last_seq,
            sandbox=(
                SandboxMap(status=session.sandbox.status, backend=session.sandbox.backend)
                if session.sandbox
                else None
            ),
        ).save(condition=SessionItem.session_id.does_not_exist())

    def get(self, session_id: str) -> Session | None:
        try:
            return _session_from_item(SessionItem.get(session_id, consistent_read=True))
        except DoesNotExist:
            return None

    def list_for_owner(self, owner_id: str, limit: int, cursor: str | None) -> Page[Session]:
        start = decode_cursor(cursor, self._CURSOR_KEYS) if cursor else None
        if start is not None and start["owner_id"]["S"] != owner_id:
            raise InvalidInput("cursor is malformed")
        # One more than asked tells whether another page exists, so the last page has no cursor.
        result = SessionItem.by_owner.query(
            owner_id, scan_index_forward=False, limit=limit + 1, last_evaluated_key=start
        )
        items = [_session_from_item(item) for item in result]
        if len(items) <= limit:
            return Page(items=items, next_cursor=None)
        last = items[limit - 1]
        key = {
            "session_id": {"S": last.session_id},
            "owner_id": {"S": last.owner_id},
            "created_at": {"S": iso(last.created_at)},
        }
        return Page(items=items[:limit], next_cursor=encode_cursor(key))

    def delete(self, session_id: str) -> None:
        SessionItem(session_id=session_id).delete()

    def rename(self, session_id: str, title: str) -> None:
        try:
            SessionItem(session_id=session_id).update(
                actions=[SessionItem.title.set(title)], condition=SessionItem.session_id.exists()
            )
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise


def _event_from_item(item: EventItem) -> Event:
    return Event(
        session_id=item.session_id,
        seq=int(item.seq),
        run_id=item.run_id,
        type=item.type,
        ts=_parse(item.ts),
        data=item.data,
    )


@storage_errors
class DynamoEventLog:
    """The session log (docs/api.md): one item per event, seq allocated by a transaction.

    Appending is one TransactWriteItems of: the event put at seq = head + 1 if that seq is free, the
    append key claimed if it is new, the session's `last_seq` moved from head to head + 1, and, for a
    worker's write, a check that its run is still open. All or nothing, so there is never a gap, never
    a seq used twice and never a key stored twice; a writer that loses a race reads the head again and
    retries (jittered), and a writer whose key is taken gets back the event stored under it.

    The head is read (GetItem) only when this log does not know it: the seq of its own last append, or
    the last seq of its last read to the end, is tried first — a task writes several events in a row,
    after reading the log. Another writer having moved the head since fails the transaction's condition,
    and the head is then read.
    """

    MAX_KNOWN_HEADS = 4096

    def __init__(self, retention_days: int = 30, max_attempts: int = 200) -> None:
        self.retention = timedelta(days=retention_days)
        self.max_attempts = max_attempts
        self._heads: dict[str, int] = {}

    def read(self, session_id: str, after: int, limit: int | None, *, consistent: bool = True) -> list[Event]:
        query = EventItem.query(session_id, EventItem.seq > after, consistent_read=consistent, limit=limit)
        events = [_event_from_item(item) for item in query]
        if events and consistent and (limit is None or len(events) < limit):
            self._known_head(session_id, events[-1].seq)
        return events

    def _known_head(self, session_id: str, seq: int | None) -> None:
        if seq is None:
            self._heads.pop(session_id, None)
            return
        if len(self._heads) >= self.MAX_KNOWN_HEADS:
            self._heads.clear()
        self._heads[session_id] = seq

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
        if while_run_in is not None and run_id is None:
            raise ValueError("while_run_in needs a run_id")
        for _ in range(self.max_attempts):
            stored = self._transact(session_id, [(type, data, key)], run_id, while_run_in, to_active_run)
            if stored is not None:
                return stored[0]
            found = self.find(session_id, key)
            if found is not None:
                return found
            # the key's event expired between the two reads: store it again
        raise RuntimeError(f"could not append to {session_id} after {self.max_attempts} attempts")

    MAX_BATCH = 32  # events per transaction: two items each, within TransactWriteItems' 100

    def append_many(
        self,
        session_id: str,
        entries: Sequence[tuple[str, dict[str, Any], str]],
        *,
        run_id: str,
        while_run_in: frozenset[RunStatus] | None = None,
    ) -> list[Event]:
        """`append`'s transaction for several events: each event and its key claimed, the head moved
        by len(entries), the run's status checked once."""
        if 1 < len(entries) <= self.MAX_BATCH:
            stored = self._transact(session_id, entries, run_id, while_run_in, to_active_run=False)
            if stored is not None:
                return stored
            # a retried write: some keys are stored already, and each append returns its own
        return self._one_by_one(session_id, entries, run_id, while_run_in)

    def _transact(
        self,
        session_id: str,
        entries: Sequence[tuple[str, dict[str, Any], str]],
        run_id: str | None,
        while_run_in: frozenset[RunStatus] | None,
        to_active_run: bool,
    ) -> list[Event] | None:
        """The entries stored at head + 1, head + 2, … in one transaction, retried until the head holds;
        None if one of their keys is already stored (nothing of this call is, then)."""
        known = None if to_active_run else self._heads.get(session_id)
        offset = 1 if while_run_in is not None else 0
        for attempt in range(self.max_attempts):
            guessed = known is not None
            if known is not None:
                head, known = known, None
            else:
                try:
                    session = SessionItem.get(
                        session_id, consistent_read=True, attributes_to_get=["last_seq", "active_run_id"]
                    )
                except DoesNotExist:
                    raise NotFound("session not found") from None
                head = int(session.last_seq)
            session_condition = SessionItem.last_seq == head
            if to_active_run:
                # The session's active run, unless its done is stored (it is released only after it);
                # the same run must still be active when the write lands.
                active = session.active_run_id
                run_id = (
                    active if active and self.find(session_id, append_key(active, "done")) is None else None
                )
                session_condition &= (
                    SessionItem.active_run_id == active
                    if active
                    else SessionItem.active_run_id.does_not_exist()
                )
            now = utcnow()
            expires_at = now + self.retention
            events = [
                Event(session_id=session_id, seq=head + 1 + i, run_id=run_id, type=type, ts=now, data=data)
                for i, (type, data, _) in enumerate(entries)
            ]
            try:
                # pynamodb sends condition checks, then puts, then updates: the reasons follow that order.
                with TransactWrite(connection=EventItem._get_connection().connection) as tx:
                    if while_run_in is not None:
                        tx.condition_check(
                            RunItem, run_id, condition=RunItem.status.is_in(*(s.value for s in while_run_in))
                        )
                    for event, (_, _, key) in zip(events, entries, strict=True):
                        _save_event(tx, event, key, expires_at)
                    tx.update(
                        SessionItem(session_id=session_id),
                        actions=[SessionItem.last_seq.set(head + len(entries))],
                        condition=session_condition,
                    )
                self._known_head(session_id, head + len(entries))
                return events
            except TransactWriteError as exc:
                codes = [reason.code if reason else None for reason in exc.cancellation_reasons]
                if "ConditionalCheckFailed" in codes[offset + 1 : offset + 2 * len(entries) : 2]:
                    return None  # a key's marker exists
                if while_run_in is not None and codes and codes[0] == "ConditionalCheckFailed":
                    raise RunNotOpen("the run is no longer open") from None
                if not codes:
                    raise
                if guessed:
                    continue  # the head moved since this log saw it: read it
                # Another writer took this seq (or the transaction conflicted): back off, read again.
                time.sleep(random.uniform(0.0, min(0.002 * (attempt + 1), 0.05)))  # noqa: S311
        raise RuntimeError(f"could not append to {session_id} after {self.max_attempts} attempts")

    def _one_by_one(
        self,
        session_id: str,
        entries: Sequence[tuple[str, dict[str, Any], str]],
        run_id: str,
        while_run_in: frozenset[RunStatus] | None,
    ) -> list[Event]:
        return [
            self.append(session_id, type, data, key=key, run_id=run_id, while_run_in=while_run_in)
            for type, data, key in entries
        ]

    def find(self, session_id: str, key: str) -> Event | None:
        try:
            marker = EventItem.get(_keys_partition(session_id), _key_seq(key), consistent_read=True)
            return _event_from_item(EventItem.get(session_id, int(marker.data["seq"]), consistent_read=True))
        except DoesNotExist:
            return None

    def delete_all(self, session_id: str) -> None:
        self._known_head(session_id, None)
        for partition in (session_id, _keys_partition(session_id)):
            keys = EventItem.query(partition, attributes_to_get=["session_id", "seq"])
            with EventItem.batch_write() as batch:
                for item in keys:
                    batch.delete(item)


def _save_event(tx: TransactWrite, event: Event, key: str, expires_at: datetime) -> None:
    """An append's two puts: the event at its seq and its append key's marker, each only if new."""
    for item in (
        EventItem(
            session_id=event.session_id,
            seq=event.seq,
            run_id=event.run_id,
            type=event.type,
            ts=iso(event.ts),
            data=event.data,
            expires_at=expires_at,
        ),
        EventItem(
            session_id=_keys_partition(event.session_id),
            seq=_key_seq(key),
            run_id=event.run_id,
            type="append-key",
            ts=iso(event.ts),
            data={"seq": event.seq, "key": key},
            expires_at=expires_at,
        ),
    ):
        tx.save(item, condition=EventItem.seq.does_not_exist())


def _keys_partition(session_id: str) -> str:
    return f"{session_id}#keys"


def _key_seq(key: str) -> int:
    """The sort key of an append key: 120 bits of its SHA-256 (fits DynamoDB's 38-digit numbers)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:30], 16)

"""The repositories of riadex.application.ports over the pynamodb tables."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from riadex.adapters.dynamodb.tables import EventItem, SandboxMap, SessionItem, UserItem
from riadex.domain.errors import InvalidInput
from riadex.domain.models import (
    Event,
    Page,
    SandboxInfo,
    Session,
    SessionStatus,
    User,
    iso,
)


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


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


class DynamoEventLog:
    def read(self, session_id: str, after: int, limit: int | None) -> list[Event]:
        query = EventItem.query(session_id, EventItem.seq > after, consistent_read=True, limit=limit)
        return [
            Event(
                session_id=item.session_id,
                seq=int(item.seq),
                run_id=item.run_id,
                type=item.type,
                ts=_parse(item.ts),
                data=item.data,
            )
            for item in query
        ]

    def delete_all(self, session_id: str) -> None:
        keys = EventItem.query(session_id, attributes_to_get=["session_id", "seq"])
        with EventItem.batch_write() as batch:
            for item in keys:
                batch.delete(item)

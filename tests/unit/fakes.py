"""In-memory fakes of the ports, for use-case tests (cosmicpython style)."""

from __future__ import annotations

from riadex.domain.errors import InvalidInput
from riadex.domain.models import Event, Page, Session, User


class FakeUsers:
    def __init__(self) -> None:
        self.items: dict[str, User] = {}

    def add(self, user: User) -> None:
        assert user.user_id not in self.items
        self.items[user.user_id] = user

    def get(self, user_id: str) -> User | None:
        return self.items.get(user_id)


class FakeSessions:
    def __init__(self) -> None:
        self.items: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        assert session.session_id not in self.items
        self.items[session.session_id] = session

    def get(self, session_id: str) -> Session | None:
        return self.items.get(session_id)

    def list_for_owner(self, owner_id: str, limit: int, cursor: str | None) -> Page[Session]:
        owned = sorted(
            (s for s in self.items.values() if s.owner_id == owner_id),
            key=lambda s: s.created_at,
            reverse=True,
        )
        start = 0
        if cursor is not None:
            ids = [s.session_id for s in owned]
            if cursor not in ids:
                raise InvalidInput("cursor is malformed")
            start = ids.index(cursor) + 1
        page = owned[start : start + limit]
        more = start + limit < len(owned)
        return Page(items=page, next_cursor=page[-1].session_id if more else None)

    def delete(self, session_id: str) -> None:
        del self.items[session_id]


class FakeEvents:
    def __init__(self) -> None:
        self.items: list[Event] = []

    def read(self, session_id: str, after: int, limit: int | None) -> list[Event]:
        found = [e for e in self.items if e.session_id == session_id and e.seq > after]
        return found[:limit] if limit is not None else found

    def delete_all(self, session_id: str) -> None:
        self.items = [e for e in self.items if e.session_id != session_id]


class FakeTokens:
    def issue(self, user: User) -> str:
        return f"token-for-{user.user_id}"

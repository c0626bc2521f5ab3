"""What the use cases need from the outside world, as Protocols the adapters satisfy."""

from __future__ import annotations

from typing import Protocol

from riadex.domain.models import Event, Page, Session, User


class UserRepository(Protocol):
    def add(self, user: User) -> None: ...

    def get(self, user_id: str) -> User | None: ...


class SessionRepository(Protocol):
    def add(self, session: Session) -> None: ...

    def get(self, session_id: str) -> Session | None: ...

    def list_for_owner(self, owner_id: str, limit: int, cursor: str | None) -> Page[Session]:
        """Newest first. A cursor that is malformed or not this owner's raises InvalidInput."""
        ...

    def delete(self, session_id: str) -> None: ...


class EventLog(Protocol):
    def read(self, session_id: str, after: int, limit: int | None) -> list[Event]:
        """Events with seq > after, oldest first; all of them when limit is None."""
        ...

    def delete_all(self, session_id: str) -> None: ...


class TokenIssuer(Protocol):
    def issue(self, user: User) -> str: ...

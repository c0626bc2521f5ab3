"""Use cases against in-memory fakes: Given / When / Then."""

from __future__ import annotations

import pytest

from riadex.application import sessions as use
from riadex.application.users import register_user
from riadex.domain.errors import InvalidInput, NotFound
from riadex.domain.models import Event, utcnow
from tests.unit.fakes import FakeEvents, FakeSessions, FakeTokens, FakeUsers


class TestRegisterUser:
    def test_creates_a_user_and_returns_a_token(self) -> None:
        users = FakeUsers()
        registration = register_user("  Ada  ", users, FakeTokens())
        assert registration.user.name == "Ada"
        assert users.get(registration.user.user_id) == registration.user
        assert registration.token == f"token-for-{registration.user.user_id}"

    @pytest.mark.parametrize("name", ["", "   ", "x" * 101])
    def test_refuses_bad_names_and_stores_nothing(self, name: str) -> None:
        users = FakeUsers()
        with pytest.raises(InvalidInput):
            register_user(name, users, FakeTokens())
        assert users.items == {}


class TestSessions:
    def test_create_uses_default_title(self) -> None:
        sessions = FakeSessions()
        session = use.create_session("usr_a", None, sessions, 200)
        assert session.title == use.DEFAULT_TITLE
        assert session.status == "idle"
        assert session.last_seq == 0

    def test_title_too_long_is_refused(self) -> None:
        sessions = FakeSessions()
        with pytest.raises(InvalidInput):
            use.create_session("usr_a", "x" * 201, sessions, 200)
        assert sessions.items == {}

    def test_someone_elses_session_is_not_found(self) -> None:
        sessions = FakeSessions()
        session = use.create_session("usr_a", "mine", sessions, 200)
        with pytest.raises(NotFound):
            use.get_owned_session("usr_b", session.session_id, sessions)
        with pytest.raises(NotFound):
            use.delete_session("usr_b", session.session_id, sessions, FakeEvents())
        assert session.session_id in sessions.items

    def test_malformed_id_is_not_found_without_lookup(self) -> None:
        with pytest.raises(NotFound):
            use.get_owned_session("usr_a", "nope", FakeSessions())

    @pytest.mark.parametrize("limit", [0, 101, -1])
    def test_list_limit_is_bounded(self, limit: int) -> None:
        with pytest.raises(InvalidInput):
            use.list_sessions("usr_a", limit, None, FakeSessions())

    def test_delete_removes_events_and_session(self) -> None:
        sessions, events = FakeSessions(), FakeEvents()
        session = use.create_session("usr_a", None, sessions, 200)
        events.items.append(Event(session.session_id, 1, None, "message", utcnow(), {}))
        use.delete_session("usr_a", session.session_id, sessions, events)
        assert sessions.items == {}
        assert events.items == []

    def test_history_pages_after_a_cursor(self) -> None:
        sessions, events = FakeSessions(), FakeEvents()
        session = use.create_session("usr_a", None, sessions, 200)
        for seq in range(1, 6):
            events.items.append(Event(session.session_id, seq, None, "message", utcnow(), {}))
        history = use.session_history("usr_a", session.session_id, 2, 2, sessions, events)
        assert [e.seq for e in history.events] == [3, 4]

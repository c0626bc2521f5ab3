"""In-memory fakes of the ports, for use-case tests (cosmicpython style)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from riadex.domain.errors import AlreadyExists, InvalidInput, NotFound, RunNotOpen, SessionBusy
from riadex.domain.models import (
    Event,
    Page,
    Run,
    RunStatus,
    Session,
    SessionStatus,
    User,
    utcnow,
)


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

    def rename(self, session_id: str, title: str) -> None:
        if session_id in self.items:
            self.items[session_id].title = title


class FakeEvents:
    """The log's contract in memory: gap-free seq per session, one event per append key."""

    def __init__(self, sessions: FakeSessions | None = None, runs: FakeRuns | None = None) -> None:
        self.items: list[Event] = []
        self.keys: dict[tuple[str, str], Event] = {}
        self.batches: list[list[str]] = []  # the keys of each append_many, in order
        self.sessions = sessions
        self.runs = runs
        self._lock = threading.Lock()

    def read(self, session_id: str, after: int, limit: int | None, *, consistent: bool = True) -> list[Event]:
        found = [e for e in self.items if e.session_id == session_id and e.seq > after]
        return found[:limit] if limit is not None else found

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
        with self._lock:
            if (session_id, key) in self.keys:
                return self.keys[(session_id, key)]
            if to_active_run:
                holder = self.sessions.get(session_id) if self.sessions else None
                active = holder.active_run_id if holder is not None else None
                run_id = active if active and (session_id, f"{active}/done") not in self.keys else None
            if while_run_in is not None and self.runs is not None:
                run = self.runs.items.get(run_id or "")
                if run is None or run.status not in while_run_in:
                    raise RunNotOpen("the run is no longer open")
            session = self.sessions.get(session_id) if self.sessions else None
            if self.sessions is not None and session is None:
                raise NotFound("session not found")
            seq = 1 + max((e.seq for e in self.items if e.session_id == session_id), default=0)
            event = Event(session_id, seq, run_id, type, utcnow(), data)
            self.items.append(event)
            self.keys[(session_id, key)] = event
            if session is not None:
                session.last_seq = seq
            return event

    def append_many(
        self,
        session_id: str,
        entries: Sequence[tuple[str, dict[str, Any], str]],
        *,
        run_id: str,
        while_run_in: frozenset[RunStatus] | None = None,
    ) -> list[Event]:
        self.batches.append([key for _, _, key in entries])
        return [
            self.append(session_id, type, data, key=key, run_id=run_id, while_run_in=while_run_in)
            for type, data, key in entries
        ]

    def find(self, session_id: str, key: str) -> Event | None:
        return self.keys.get((session_id, key))

    def delete_all(self, session_id: str) -> None:
        self.items = [e for e in self.items if e.session_id != session_id]
        self.keys = {k: v for k, v in self.keys.items() if k[0] != session_id}

    def of_type(self, session_id: str, type: str) -> list[Event]:
        return [e for e in self.items if e.session_id == session_id and e.type == type]


class FakeRuns:
    def __init__(self, sessions: FakeSessions) -> None:
        self.items: dict[str, Run] = {}
        self.sessions = sessions

    def create(self, run: Run) -> None:
        if run.run_id in self.items:
            raise AlreadyExists("run already exists")
        session = self.sessions.get(run.session_id)
        if session is None:
            raise NotFound("session not found")
        if session.active_run_id is not None:
            raise SessionBusy(session.active_run_id)
        self.items[run.run_id] = dataclasses.replace(run)
        session.active_run_id, session.status = run.run_id, SessionStatus.RUNNING

    def get(self, run_id: str) -> Run | None:
        run = self.items.get(run_id)
        return dataclasses.replace(run) if run else None

    def transition(
        self, run_id: str, allowed_from: Collection[RunStatus], to: RunStatus, **fields: Any
    ) -> Run | None:
        run = self.items.get(run_id)
        if run is None or run.status not in allowed_from:
            return None
        run.status = to
        for name, value in fields.items():
            setattr(run, name, value)
        session = self.sessions.get(run.session_id)
        follows = to is RunStatus.WAITING or RunStatus.WAITING in allowed_from
        if session is not None and session.active_run_id == run_id and not to.is_terminal and follows:
            session.status = SessionStatus.WAITING if to is RunStatus.WAITING else SessionStatus.RUNNING
        return dataclasses.replace(run)

    def record_seqs(self, run_id: str, first_seq: int, message_seq: int) -> None:
        self.items[run_id].first_seq, self.items[run_id].message_seq = first_seq, message_seq

    def release_session(self, session_id: str, run_id: str, now: datetime) -> None:
        session = self.sessions.get(session_id)
        if session is not None and session.active_run_id == run_id:
            session.active_run_id, session.status = None, SessionStatus.IDLE

    def list_for_session(self, session_id: str) -> list[Run]:
        runs = [r for r in self.items.values() if r.session_id == session_id]
        return sorted(runs, key=lambda r: r.created_at)

    def delete(self, run_id: str) -> None:
        self.items.pop(run_id, None)

    def set_execution(self, run_id: str, execution: str) -> None:
        if run_id in self.items:
            self.items[run_id].execution = execution


class FakeWorkflow:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.resumed: list[str] = []

    def start(self, run_id: str, session_id: str) -> None:
        if run_id not in self.started:
            self.started.append(run_id)

    def stop(self, run_id: str, cause: str, execution: str | None = None) -> None:
        self.stopped.append(execution or run_id)

    def continue_as(self, run_id: str, execution: str, state: dict[str, Any]) -> None:
        self.started.append(execution)

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        self.resumed.append(task_token)
        return True


class FakeObjects:
    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def put_text(self, key: str, text: str) -> str:
        self.items[key] = text
        return f"mem://{key}"


class FakeTokens:
    def issue(self, user: User) -> str:
        return f"token-for-{user.user_id}"


class FakeConversations:
    """The run's conversation snapshots, kept as the JSON the adapter stores (so a snapshot that does
    not round-trip fails here too)."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def load(self, run_id: str) -> dict[str, Any] | None:
        raw = self.items.get(run_id)
        return json.loads(raw) if raw is not None else None

    def save(self, run_id: str, snapshot: dict[str, Any]) -> None:
        self.items[run_id] = json.dumps(snapshot)

"""What the use cases need from the outside world, as Protocols the adapters satisfy."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from riadex.domain.models import Event, Page, Run, RunStatus, Session, Takeover, User


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

    def rename(self, session_id: str, title: str) -> None:
        """Set the title (the agent names a new session); nothing if the session is gone."""
        ...


class EventLog(Protocol):
    def read(self, session_id: str, after: int, limit: int | None, *, consistent: bool = True) -> list[Event]:
        """Events with seq > after, oldest first; all of them when limit is None.

        An eventually consistent read may miss the newest events (never reorder them): a reader that
        needs every seq stops at the first gap and reads again.
        """
        ...

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
        """Store one event at the session's next seq (gap-free, whatever the concurrency).

        The same key stores once: a retried append returns the event the first one stored. With
        while_run_in, the write happens only if run_id's status is one of those (e.g. OPEN_RUN_STATUSES)
        and raises RunNotOpen otherwise, in the same atomic step. With to_active_run (a session-level
        fact, e.g. a sandbox event), run_id is ignored: the event belongs to the session's active run
        until that run's `done` is stored, else to no run, decided in the same atomic step, so a run's
        events stay contiguous and nothing of a run follows its `done`. NotFound if the session is gone.
        """
        ...

    def append_many(
        self,
        session_id: str,
        entries: Sequence[tuple[str, dict[str, Any], str]],
        *,
        run_id: str,
        while_run_in: frozenset[RunStatus] | None = None,
    ) -> list[Event]:
        """Several events of one run, as (type, data, key), at consecutive seqs in one atomic step: a
        loop's step boundary (step completed, plan, next step started) costs one write, not three.
        The same rules as `append`; when some of the keys are already stored (a retried task), each
        entry is appended on its own, which returns what the first attempt stored."""
        ...

    def find(self, session_id: str, key: str) -> Event | None:
        """The event stored under an append key, if any."""
        ...

    def delete_all(self, session_id: str) -> None: ...


class TokenIssuer(Protocol):
    def issue(self, user: User) -> str: ...


class RunRepository(Protocol):
    def create(self, run: Run) -> None:
        """Store a new run and make it its session's active run, atomically.

        Raises AlreadyExists when run_id is taken (an idempotent retry), else SessionBusy when the session
        has another active run, else NotFound when the session is gone.
        """
        ...

    def get(self, run_id: str) -> Run | None: ...

    def transition(
        self, run_id: str, allowed_from: Collection[RunStatus], to: RunStatus, **fields: Any
    ) -> Run | None:
        """Set the status (and fields) only if the current status is in allowed_from; None otherwise.

        Into or out of `waiting`, the session whose active run this is shows `waiting` or `running`
        accordingly, in the same atomic write."""
        ...

    def record_seqs(self, run_id: str, first_seq: int, message_seq: int) -> None: ...

    def start_takeover(self, session_id: str, takeover: Takeover, active_run_id: str | None) -> bool:
        """Record the user's takeover on the session and on its active run (`active_run_id`, as the
        caller read it: None for none), atomically. False when the session already has a takeover or
        its active run is not `active_run_id` any more: read again and decide. While it lasts, `create`
        refuses a new run with TakenOver."""
        ...

    def end_takeover(self, session_id: str, takeover_id: str) -> Run | None:
        """End the takeover `takeover_id` on the session and its active run, atomically; a run paused
        for it goes back to `running` (its wait cleared, the session `running`) in the same write.
        Returns that run as it was while paused (its `wait` holds the task token to resume), else None;
        nothing happens when the takeover has already ended."""
        ...

    def pause_for_takeover(self, run_id: str, takeover_id: str, wait: dict[str, Any]) -> Run | None:
        """`running` → `waiting` with `wait`, only while the run is still taken over by `takeover_id`;
        None otherwise (the user resumed first, or the run moved on)."""
        ...

    def release_session(self, session_id: str, run_id: str, now: datetime) -> None:
        """Clear the session's active run if it is still run_id (the session becomes idle)."""
        ...

    def set_execution(self, run_id: str, execution: str) -> None:
        """Record the run's current execution name (a continuation); nothing if the run is gone."""
        ...

    def list_for_session(self, session_id: str) -> list[Run]: ...

    def delete(self, run_id: str) -> None: ...


class Workflow(Protocol):
    """The engine that drives a run's steps (Step Functions), keyed by run id."""

    def start(self, run_id: str, session_id: str) -> None:
        """Idempotent: starting an already started run's execution is not an error."""
        ...

    def stop(self, run_id: str, cause: str, execution: str | None = None) -> None:
        """Idempotent: stopping an execution that is finished or was never started is not an error.

        `execution` names the run's current execution when it was continued (else the run id)."""
        ...

    def continue_as(self, run_id: str, execution: str, state: dict[str, Any]) -> None:
        """Start the run's next execution, named `execution`, with `state` as its input (idempotent)."""
        ...

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        """Resume a paused task (SendTaskSuccess); False when the token is no longer valid (the wait
        timed out or the execution ended)."""
        ...


class ObjectStore(Protocol):
    def put_text(self, key: str, text: str) -> str:
        """Store text under key; returns a reference a client can resolve (e.g. s3://bucket/key)."""
        ...


class RunEnding(Protocol):
    """Ends a run exactly once (RunService): its final status, then its closing `run` and `done`."""

    def fail(
        self,
        run_id: str,
        code: str,
        message: str,
        retryable: bool = False,
        usage: dict[str, int] | None = None,
    ) -> Run:
        """An `error` event with the code and message, then the run `failed`."""
        ...

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        usage: dict[str, int] | None = None,
        error: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> Run: ...


class ConversationStore(Protocol):
    """A run's conversation snapshot (riadex.application.conversation.RunConversation, as a dict)."""

    def load(self, run_id: str) -> dict[str, Any] | None: ...

    def save(self, run_id: str, snapshot: dict[str, Any]) -> None:
        """Nothing if the run is gone (its session was deleted)."""
        ...

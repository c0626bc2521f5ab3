"""Runs: from a user's message to exactly one `done` (docs/api.md).

Every step here is safe to repeat. The API may crash between storing a run and starting its
execution, a task Lambda may be retried, a cancel may race the finish: each write is either a
conditional status change or an append under a fixed key, so a repeat finds the work done and goes on.
That is what makes "exactly one `done`" hold whichever of the finish task, the failure path, a cancel
or the execution-status finalizer gets there first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from riadex.application.ports import EventLog, ObjectStore, RunRepository, SessionRepository, Workflow
from riadex.application.quotas import Quotas
from riadex.application.run_events import RunEvent, RunEvents
from riadex.application.sessions import get_owned_session
from riadex.domain import ids
from riadex.domain.errors import (
    AlreadyExists,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidValue,
    NotFound,
    QuotaExceeded,
    RunNotOpen,
    SessionBusy,
    TakenOver,
    TooLarge,
)
from riadex.domain.events import EventType, empty_usage
from riadex.domain.models import (
    LIVE_RUN_STATUSES,
    OPEN_RUN_STATUSES,
    Event,
    Run,
    RunStatus,
    Session,
    statuses_that_can_become,
    utcnow,
)

MAX_ATTACHMENTS = 20
MAX_IDEMPOTENCY_KEY_CHARS = 200

# Step Functions execution statuses (as EventBridge reports them) and the run ending each one means.
EXECUTION_ENDINGS = {
    "FAILED": RunStatus.FAILED,
    "TIMED_OUT": RunStatus.TIMED_OUT,
    "ABORTED": RunStatus.CANCELLED,
}


@dataclass(frozen=True)
class RunLimits:
    max_message_chars: int
    inline_output_chars: int


# A cancel of a run in these states goes through `cancelling` (docs/api.md).
_CANCELLABLE_LIVE = frozenset({RunStatus.RUNNING, RunStatus.WAITING})


def execution_name(run_id: str, continuation: int) -> str:
    """The run's first execution is named after it; continuations are `<run_id>-<n>`."""
    return run_id if continuation <= 0 else f"{run_id}-{continuation}"


def run_of_execution(name: str) -> str:
    return name.split("-", 1)[0]


def request_hash(message: str, attachments: list[str]) -> str:
    body = json.dumps({"message": message, "attachments": attachments}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def idempotent_run_id(owner_id: str, session_id: str, key: str) -> str:
    """The run id a key stands for: a retried POST names the same run, so storing it is the lock."""
    digest = hashlib.sha256(f"{owner_id}\n{session_id}\n{key}".encode()).hexdigest()
    return f"run_{digest[:32]}"


class RunService:
    def __init__(
        self,
        sessions: SessionRepository,
        runs: RunRepository,
        events: EventLog,
        workflow: Workflow,
        objects: ObjectStore,
        limits: RunLimits,
        writer: RunEvents | None = None,
        quotas: Quotas | None = None,
    ) -> None:
        self.sessions = sessions
        self.runs = runs
        self.events = events
        self.workflow = workflow
        self.limits = limits
        self.writer = writer or RunEvents(events, objects, limits.inline_output_chars)
        self.quotas = quotas

    # --- API side ---------------------------------------------------------------------------

    def send_message(
        self,
        owner_id: str,
        session_id: str,
        message: str,
        attachments: list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        attachments = list(attachments or [])
        self._validate_message(message, attachments, idempotency_key)
        if get_owned_session(owner_id, session_id, self.sessions).takeover is not None:
            raise TakenOver()  # docs/api.md: the user resumes first (a new run checks it atomically too)
        fingerprint = request_hash(message, attachments)
        run_id = (
            idempotent_run_id(owner_id, session_id, idempotency_key) if idempotency_key else ids.new_id("run")
        )
        run = Run(
            run_id=run_id,
            session_id=session_id,
            owner_id=owner_id,
            status=RunStatus.QUEUED,
            created_at=utcnow(),
            message=message,
            attachments=attachments,
            request_hash=fingerprint,
        )
        try:
            self._create_admitted(run)
        except SessionBusy as busy:
            # docs/api.md: a message to a session whose run waits for the user is that run's answer.
            waiting = self.runs.get(busy.active_run_id) if busy.active_run_id else None
            if waiting is None or waiting.owner_id != owner_id or waiting.status is not RunStatus.WAITING:
                raise
            return self._answer(waiting, message, attachments)
        except AlreadyExists:
            existing = self.runs.get(run_id)
            if existing is None:  # created and deleted with its session meanwhile
                raise NotFound("session not found") from None
            if existing.request_hash != fingerprint:
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was already used with a different request body"
                ) from None
            run = existing
        if run.status is RunStatus.QUEUED:
            self._launch(run)
        return self.runs.get(run_id) or run

    def _create_admitted(self, run: Run) -> None:
        """Create the run within the user's quotas; what the admission took is given back when the
        run is not created after all (an answer to a waiting run, an idempotent retry, an error)."""
        try:
            admission = (
                self.quotas.admit_run(run.owner_id, run.session_id, run.run_id) if self.quotas else None
            )
        except QuotaExceeded:
            # Not a new run after all: an idempotent retry, or the answer to a waiting run (the
            # caller handles both), or a busy session (409 says more than 429 would).
            if self.runs.get(run.run_id) is not None:
                raise AlreadyExists(run.run_id) from None
            session = self.sessions.get(run.session_id)
            if session is not None and session.active_run_id:
                raise SessionBusy(session.active_run_id) from None
            raise
        try:
            self.runs.create(run)
        except AlreadyExists:
            if admission is not None:  # an idempotent retry: the run holds its slot already
                admission.refund(keep_run=True)
            raise
        except BaseException:
            if admission is not None:
                admission.refund()
            raise

    def _answer(self, run: Run, message: str, attachments: list[str]) -> Run:
        """The user's answer to `message_ask_user`: stored as their message and as the ask call's
        result, the run back to running, and the paused execution resumed."""
        wait = run.wait or {}
        call_id = str(wait.get("tool_call_id") or "")
        resumed = self.runs.transition(run.run_id, {RunStatus.WAITING}, RunStatus.RUNNING, wait=None)
        if resumed is None:  # answered or cancelled meanwhile
            raise SessionBusy(run.run_id)
        stored: dict[str, Any] = {"role": "user", "content": message}
        if attachments:
            stored["attachments"] = attachments
        self.writer.append(resumed, EventType.MESSAGE, stored, f"answer/{call_id}/message")
        self.writer.tool(
            resumed,
            f"tool/{call_id}/result",
            {
                "tool_call_id": call_id,
                "name": "message",
                "function": "message_ask_user",
                "args": {"question": wait.get("question", "")},
                "status": "called",
                "content": message,
            },
        )
        self._append_unless_ended(
            resumed, EventType.RUN, {"status": RunStatus.RUNNING.value}, f"answer/{call_id}/running"
        )
        if not self.workflow.resume(str(wait.get("task_token", "")), {"answered": call_id}):
            return self.finish(
                run.run_id, RunStatus.TIMED_OUT, reason="the question to the user expired before the answer"
            )
        return self.runs.get(run.run_id) or resumed

    def _validate_message(self, message: str, attachments: list[str], key: str | None) -> None:
        if len(message) > self.limits.max_message_chars:
            raise TooLarge(f"message must be at most {self.limits.max_message_chars} characters")
        if not message.strip():
            raise InvalidInput("message must not be empty")
        if len(attachments) > MAX_ATTACHMENTS:
            raise InvalidValue(f"at most {MAX_ATTACHMENTS} attachments")
        if any(not ids.is_valid(file_id, "fil") for file_id in attachments):
            raise InvalidValue("attachments must be file ids")
        if key is not None and not (0 < len(key) <= MAX_IDEMPOTENCY_KEY_CHARS and key.isprintable()):
            raise InvalidValue(
                f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} printable characters"
            )

    def _launch(self, run: Run) -> None:
        try:
            self._ensure_opening_events(run)
        except RunNotOpen:
            return  # cancelled before it started: the cancel wrote its events
        self.workflow.start(run.run_id, run.session_id)

    def get_run(self, owner_id: str, run_id: str) -> Run:
        run = self.runs.get(run_id) if ids.is_valid(run_id, "run") else None
        if run is None or run.owner_id != owner_id:
            raise NotFound("run not found")
        return run

    def cancel(self, owner_id: str, run_id: str) -> Run:
        """Idempotent (docs/api.md): a finished run is returned as it is."""
        return self._cancel(self.get_run(owner_id, run_id), "cancelled by the user")

    def stop_session(self, owner_id: str, session_id: str) -> Session:
        session = get_owned_session(owner_id, session_id, self.sessions)
        if session.active_run_id:
            run = self.runs.get(session.active_run_id)
            if run is not None:
                self._cancel(run, "session stopped")
        return get_owned_session(owner_id, session_id, self.sessions)

    def delete_session(
        self, owner_id: str, session_id: str, cleanups: Sequence[Callable[[str], object]] = ()
    ) -> None:
        """Cancel the active run, free what the session holds elsewhere (`cleanups`: its sandbox, its
        files), delete the session item, then its runs and events.

        The session item goes before the events because every append is conditional on it: a worker
        or finalizer still writing a run's closing events after this point fails (NotFound) instead of
        leaving an event behind the delete. A delete cut short after that leaves only unreachable items
        (events expire with their TTL)."""
        get_owned_session(owner_id, session_id, self.sessions)
        runs = self.runs.list_for_session(session_id)
        for run in runs:
            if not run.status.is_terminal:
                self._cancel(run, "session deleted")
        for cleanup in cleanups:
            cleanup(session_id)
        self.sessions.delete(session_id)
        for run in self.runs.list_for_session(session_id):
            self.runs.delete(run.run_id)
        self.events.delete_all(session_id)

    def _cancel(self, run: Run, reason: str) -> Run:
        if run.status.is_terminal:
            self._ensure_closing_events(run)
            return run
        if run.status in _CANCELLABLE_LIVE:
            self._mark_cancelling(run.run_id, reason)
        self.workflow.stop(run.run_id, reason, (self.runs.get(run.run_id) or run).execution)
        return self.finish(run.run_id, RunStatus.CANCELLED, reason=reason)

    def _mark_cancelling(self, run_id: str, reason: str | None = None) -> None:
        """`cancelling`, with the cancel's reason: whoever ends the run next ends it `cancelled` with it
        (the canceller, or the execution's next task if the canceller died before its stop)."""
        fields = {"reason": reason} if reason else {}
        moved = self.runs.transition(
            run_id, statuses_that_can_become(RunStatus.CANCELLING), RunStatus.CANCELLING, **fields
        )
        if moved is not None:
            # Whoever closes the run may do so before this lands (the canceller's own finish, or a
            # failure that read the run before it was cancelling): then it is not written at all.
            self._append_unless_ended(
                moved, EventType.RUN, {"status": RunStatus.CANCELLING.value}, "cancelling"
            )

    def _append_unless_ended(self, run: Run, type: EventType, data: dict[str, Any], name: str) -> None:
        """A write that races the run's closers: stored only while the run has not ended, so it never
        follows the `done` (docs/api.md: the `done` is a run's last event)."""
        with contextlib.suppress(RunNotOpen):
            self.writer.append(run, type, data, name, while_in=LIVE_RUN_STATUSES)

    # --- task side (the state machine's steps) -------------------------------------------------

    def start(self, run_id: str) -> bool:
        """Move a queued run to running; False when it no longer should run (cancelled or deleted)."""
        found = self.runs.get(run_id)
        if found is None:
            return False
        run = found
        if run.status is RunStatus.QUEUED:
            self._ensure_opening_events(run)
            moved = self.runs.transition(run_id, {RunStatus.QUEUED}, RunStatus.RUNNING, started_at=utcnow())
            run = moved or self._existing(run_id)
        if run.status is not RunStatus.RUNNING:
            return False
        try:
            self.writer.append(run, EventType.RUN, {"status": RunStatus.RUNNING.value}, "running")
        except RunNotOpen:
            return False
        return True

    def fail(
        self,
        run_id: str,
        code: str,
        message: str,
        retryable: bool = False,
        usage: dict[str, int] | None = None,
    ) -> Run:
        run = self._existing(run_id)
        if run.status is RunStatus.CANCELLING:
            # A failure racing a cancel (a task cut short by it): the cancel decides.
            return self.finish(run_id, RunStatus.CANCELLED, usage=usage)
        if not run.status.is_terminal:
            self._append_unless_ended(
                run,
                EventType.ERROR,
                {"code": code, "message": message[:2000], "retryable": retryable},
                "error",
            )
        return self.finish(
            run_id,
            RunStatus.FAILED,
            usage=usage,
            error={"code": code, "message": message[:2000]},
            reason=code,
        )

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        usage: dict[str, int] | None = None,
        error: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> Run:
        """End the run with `status` unless it has already ended; either way its closing events exist
        exactly once afterwards and the session is free."""
        if not status.is_terminal:
            raise ValueError(f"{status} is not a final status")
        run = self._existing(run_id)
        while not run.status.is_terminal:
            if run.status is RunStatus.CANCELLING and status is not RunStatus.CANCELLED:
                # A failure, a completion or a timeout racing a cancel that already moved the run: the
                # cancel decides (the user was told `cancelled`), with the reason it recorded.
                status, error, reason = RunStatus.CANCELLED, None, None
            if status is RunStatus.CANCELLED and run.status in _CANCELLABLE_LIVE:
                # Also when the run started between our read and our write: a cancel goes through
                # cancelling, never turns into a failure.
                self._mark_cancelling(run_id, reason)
                run = self._existing(run_id)
                continue
            if not run.status.can_become(status):
                status, reason = RunStatus.FAILED, f"cannot become {status.value} from {run.status.value}"
                continue
            fields: dict[str, Any] = {"ended_at": utcnow(), "usage": usage or run.usage or empty_usage()}
            if error is not None:
                fields["error"] = error
            if reason is not None:
                fields["reason"] = reason
            # From the status just read, and no other: a run that moved meanwhile (a cancel marking it
            # cancelling after a failure read it running) is read again, and the loop's top decides.
            moved = self.runs.transition(run_id, {run.status}, status, **fields)
            run = moved or self._existing(run_id)
        self._ensure_closing_events(run)
        return run

    def finalize_execution(self, execution: str, execution_status: str, cause: str | None) -> Run | None:
        """An execution ended outside our handlers (failed, timed out, aborted): write what is missing.

        Only the run's current execution counts: one that handed over to a continuation is not a death.
        """
        ending = EXECUTION_ENDINGS.get(execution_status)
        run_id = run_of_execution(execution)
        run = self.runs.get(run_id) if ids.is_valid(run_id, "run") else None
        if ending is None or run is None or execution != (run.execution or run.run_id):
            return run
        if run.status.is_terminal:
            self._ensure_closing_events(run)
            return run
        if ending is RunStatus.FAILED:
            return self.fail(run_id, "execution_failed", cause or "the execution failed")
        if ending is RunStatus.TIMED_OUT:
            return self.finish(run_id, RunStatus.TIMED_OUT, reason="execution timed out")
        return self.finish(run_id, RunStatus.CANCELLED, reason=cause or "execution aborted")

    # --- the run's events ----------------------------------------------------------------------

    def _existing(self, run_id: str) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise NotFound("run not found")
        return run

    def _ensure_opening_events(
        self, run: Run, *, while_in: frozenset[RunStatus] | None = OPEN_RUN_STATUSES
    ) -> None:
        """`run{queued}` first, then the user's message (docs/api.md); both once, whoever writes them."""
        if run.first_seq is not None and run.message_seq is not None:
            return
        queued = self.writer.append(
            run, EventType.RUN, {"status": RunStatus.QUEUED.value}, "queued", while_in=while_in
        )
        message: dict[str, Any] = {"role": "user", "content": run.message}
        if run.attachments:
            message["attachments"] = run.attachments
        stored = self.writer.append(run, EventType.MESSAGE, message, "message", while_in=while_in)
        self.runs.record_seqs(run.run_id, queued.seq, stored.seq)

    def _close_open_tool_calls(self, run: Run) -> list[RunEvent]:
        """Every `tool{calling}` gets its `failed` before the run's `done`, whatever ended the run
        (cancel, failure, timeout, a lost sandbox, the finalizer): clients pair them by tool_call_id.
        The result's append key is the one the tool's own result uses, so of the two, one is stored."""
        after = (run.first_seq or 1) - 1
        events = [e for e in self.events.read(run.session_id, after, None) if e.run_id == run.run_id]
        if any(e.type == EventType.DONE.value for e in events):
            return []
        closing: list[RunEvent] = []
        open_calls: dict[str, Event] = {}
        for event in events:
            if event.type != EventType.TOOL.value:
                continue
            call_id = str(event.data.get("tool_call_id", ""))
            if event.data.get("status") == "calling":
                open_calls[call_id] = event
            else:
                open_calls.pop(call_id, None)
        why = f"the run ended ({run.status.value}"
        why += f": {run.reason})" if run.reason else ")"
        now = utcnow()
        for call_id, calling in open_calls.items():
            data = {
                **calling.data,
                "status": "failed",
                "content": {"error": f"{why} before this call finished"},
                "duration_ms": max(0, int((now - calling.ts).total_seconds() * 1000)),
            }
            closing.append((EventType.TOOL, data, f"tool/{call_id}/result"))
        return closing + self._close_open_step(events)

    def _close_open_step(self, events: Sequence[Event]) -> list[RunEvent]:
        """A step left `started` by a run that did not complete ends `failed`, and the plan's last
        snapshot shows it (a client's step spinner stops too). The keys are the ones the loop's own step
        end uses, so a step the loop closed meanwhile is not closed twice.

        Two closers can race (a cancel and the execution's own end): one may read the log after the
        other stored a step's `failed` but before its plan snapshot. So the snapshot is written whenever
        the last plan does not show a failed step as failed, not only when this closer failed the step:
        else the slower closer's snapshot would land after the `done` the faster one wrote."""
        open_steps: dict[str, Event] = {}
        failed: set[str] = set()
        plan: Event | None = None
        for event in events:
            if event.type == EventType.PLAN.value:
                plan = event
            elif event.type == EventType.STEP.value:
                step_id = str(event.data.get("id", ""))
                if event.data.get("status") == "started":
                    open_steps[step_id] = event
                    continue
                open_steps.pop(step_id, None)
                if event.data.get("status") == "failed":
                    failed.add(step_id)
        closing: list[RunEvent] = []
        for step_id, started in open_steps.items():
            index = int(step_id) - 1 if step_id.isdigit() else step_id
            closing.append((EventType.STEP, {**started.data, "status": "failed"}, f"step/{index}/completed"))
        failed |= set(open_steps)
        if plan is None or not failed:
            return closing
        shown = [step for step in plan.data.get("steps", []) if isinstance(step, dict)]
        steps = [{**step, "status": "failed"} if str(step.get("id")) in failed else step for step in shown]
        if steps != shown:
            closing.append((EventType.PLAN, {"steps": steps}, "plan/closed"))
        return closing

    def _ensure_closing_events(self, run: Run) -> None:
        """What the run left open closed, the final `run{status}` and the one `done`, all in one write
        (a second closer racing this one sees all of it or none), then the session is released."""
        self._ensure_opening_events(run, while_in=None)
        done: dict[str, Any] = {"status": run.status.value, "usage": run.usage or empty_usage()}
        if run.reason:
            done["reason"] = run.reason
        closing = [
            *self._close_open_tool_calls(run),
            (EventType.RUN, {"status": run.status.value}, "ended"),
            (EventType.DONE, done, "done"),
        ]
        self.writer.append_many(run, closing, while_in=None)
        self.runs.release_session(run.session_id, run.run_id, utcnow())

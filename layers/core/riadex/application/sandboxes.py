"""Sandbox lifecycle: acquire on first use and reuse after, detect a dead one, release, reap when idle.

The session item is the single source of truth for "which sandbox does this session have". Every
transition is a conditional write on the sandbox id the caller saw, so:
- two concurrent first uses start one sandbox (the loser waits for the winner's to be ready);
- a sandbox that stops answering is marked `lost` once (one `sandbox{lost}` event) and replaced on the
  next use, never silently reused and never hanging a caller;
- the reaper cannot release a sandbox that was used after it looked.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from riadex.application.ports import EventLog
from riadex.application.sandbox_ports import (
    SandboxEvents,
    SandboxHung,
    SandboxProvider,
    SandboxRecords,
    SandboxUnreachable,
    ToolGateway,
)
from riadex.application.workspaces import Workspaces
from riadex.domain import ids
from riadex.domain.errors import Conflict, NotFound, Unavailable
from riadex.domain.events import EventType
from riadex.domain.models import utcnow
from riadex.domain.sandboxes import SandboxHandle, SandboxRecord, SandboxStatus

T = TypeVar("T")
logger = logging.getLogger(__name__)
MAX_POLL_SECONDS = 1.0
LOST_MESSAGE = "the session's sandbox stopped; a new one is started on next use"


class EventLogSandboxEvents:
    """`sandbox` events into the session's event log (docs/api.md), one per sandbox and status: the append
    key makes a retried emit store once. A session deleted meanwhile has no log to write to."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def emit(
        self,
        session_id: str,
        sandbox_id: str,
        status: SandboxStatus,
        backend: str,
        run_id: str | None = None,
        workspace: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> None:
        data: dict[str, Any] = {"status": status.value, "backend": backend}
        if workspace is not None:
            data["workspace"] = workspace
        key = key or f"sandbox:{sandbox_id}:{status.value}"
        with contextlib.suppress(NotFound):
            # A session-level fact, placed in whichever run is in progress when it is written (not
            # necessarily run_id's: a cancelled run's acquire may finish during the next run), so
            # every run's events stay contiguous and none follows its `done`.
            self._log.append(session_id, EventType.SANDBOX, data, key=key, to_active_run=True)


@dataclass
class Sandboxes:
    records: SandboxRecords
    provider: SandboxProvider
    events: SandboxEvents
    tools: ToolGateway
    provision_timeout_seconds: float = 300.0
    """How long one provisioning may take before another caller may take the slot over."""
    poll_seconds: float = 0.2
    clock: Callable[[], datetime] = field(default=utcnow)
    sleep: Callable[[float], None] = field(default=time.sleep)
    on_ready: list[Callable[[str, SandboxHandle], object]] = field(default_factory=list)
    """Run when a session's new sandbox is ready (e.g. placing uploads that waited for it)."""
    workspaces: Workspaces | None = None
    """Saves a session's workspace when its sandbox is reaped (and after steps), restores it into the
    next one; None: a workspace lives and dies with its sandbox."""

    # --- acquire and reuse ---------------------------------------------------------------------

    def ensure(self, session_id: str, owner_id: str, run_id: str | None = None) -> SandboxHandle:
        """The session's ready sandbox, started if it has none (or its last one was lost/released).

        The caller has checked that `owner_id` owns the session. `run_id`: the run this use is part
        of, so the `sandbox` events it causes belong to that run's contiguous part of the log.
        """
        waited_since = self.clock()
        delay = self.poll_seconds
        while True:
            record = self.records.get(session_id)
            if record is None or not record.status.is_live or self._stale(record):
                expected = record.sandbox_id if record else None
                handle = self._provision(session_id, owner_id, expected, run_id)
                if handle is not None:
                    return handle
                continue  # another caller claimed the slot first: use theirs
            if record.status is SandboxStatus.READY and record.handle is not None:
                if self.provider.healthy(record.handle):
                    self.records.touch(session_id, record.sandbox_id, self.clock())
                    return record.handle
                self._lose(record, run_id)
                continue
            # Someone else is provisioning: wait for it rather than start a second sandbox (backing
            # off: a Fargate start is a minute of polling).
            if (self.clock() - waited_since).total_seconds() > self.provision_timeout_seconds:
                raise Unavailable("the session's sandbox is still starting; try again shortly")
            self.sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)

    def _stale(self, record: SandboxRecord) -> bool:
        age = (self.clock() - record.claimed_at).total_seconds()
        return record.status is SandboxStatus.PROVISIONING and age > self.provision_timeout_seconds

    def _provision(
        self, session_id: str, owner_id: str, expected: str | None, run_id: str | None
    ) -> SandboxHandle | None:
        now = self.clock()
        claim = SandboxRecord(
            session_id=session_id,
            owner_id=owner_id,
            sandbox_id=ids.new_id("sbx"),
            backend=self.provider.backend,
            status=SandboxStatus.PROVISIONING,
            claimed_at=now,
            last_used_at=now,
        )
        if not self.records.claim(claim, expected):
            return None
        self.events.emit(session_id, claim.sandbox_id, SandboxStatus.PROVISIONING, claim.backend, run_id)
        try:
            handle = self.provider.acquire(claim.sandbox_id, session_id, owner_id)
        except Exception:
            self.records.set_status(session_id, claim.sandbox_id, SandboxStatus.LOST)
            self.events.emit(session_id, claim.sandbox_id, SandboxStatus.LOST, claim.backend, run_id)
            raise
        workspace = self._restore(session_id, handle)
        if not self.records.mark_ready(session_id, handle, self.clock()):
            # The session was deleted (or the slot taken over) while this one started: do not leak it.
            self.provider.release(handle)
            raise Unavailable("the session changed while its sandbox was starting; try again")
        self.events.emit(
            session_id, handle.sandbox_id, SandboxStatus.READY, handle.backend, run_id, workspace
        )
        for hook in self.on_ready:
            try:
                hook(session_id, handle)
            except Exception:
                # A hook must not fail the acquire; a file it did not place waits for the next sandbox.
                logger.exception("sandbox on_ready hook failed", extra={"session_id": session_id})
        return handle

    def _restore(self, session_id: str, handle: SandboxHandle) -> dict[str, Any] | None:
        """The session's saved workspace into its new sandbox (before it is marked ready, so no tool
        call sees it half-restored). A failure leaves an empty workspace, said in the event."""
        if self.workspaces is None:
            return None
        try:
            return self.workspaces.restore(session_id, handle)
        except Exception as exc:
            logger.exception("workspace restore failed", extra={"session_id": session_id})
            return {
                "action": "skipped",
                "bytes": 0,
                "reason": f"the saved workspace could not be restored: {exc}",
            }

    def _save(self, session_id: str, handle: SandboxHandle) -> dict[str, Any] | None:
        if self.workspaces is None:
            return None
        try:
            return self.workspaces.save(session_id, handle)
        except Exception as exc:
            logger.exception("workspace save failed", extra={"session_id": session_id})
            return {"action": "skipped", "bytes": 0, "reason": f"the workspace could not be saved: {exc}"}

    def save_workspace(self, session_id: str, run_id: str | None = None) -> dict[str, Any] | None:
        """Save the session's workspace now if it changed (the loop calls this after each act). Only a
        skipped save is an event (once per sandbox); a sandbox that is not ready is left alone."""
        record = self.records.get(session_id)
        if record is None or record.status is not SandboxStatus.READY or record.handle is None:
            return None
        workspace = self._save(session_id, record.handle)
        if workspace is not None and workspace["action"] == "skipped":
            key = f"sandbox:{record.sandbox_id}:ready:workspace-skipped"
            self.events.emit(
                session_id, record.sandbox_id, SandboxStatus.READY, record.backend, run_id, workspace, key=key
            )
        return workspace

    def _lose(self, record: SandboxRecord, run_id: str | None = None) -> None:
        """Mark a dead sandbox lost (once, whoever notices first) and free whatever is left of it."""
        if self.records.set_status(
            record.session_id, record.sandbox_id, SandboxStatus.LOST, only_from=SandboxStatus.READY
        ):
            self.events.emit(record.session_id, record.sandbox_id, SandboxStatus.LOST, record.backend, run_id)
        if record.handle is not None:
            self.provider.release(record.handle)

    # --- use ------------------------------------------------------------------------------------

    def call_tool(
        self, session_id: str, owner_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]:
        """Run one tool function in the session's sandbox, starting one if needed.

        A sandbox that vanishes mid-call is marked lost and the call fails with a retryable
        Unavailable: the next call gets a fresh sandbox.
        """
        handle = self.ensure(session_id, owner_id, run_id)
        return self._guarded(session_id, handle, lambda: self.tools.call(handle, function, args), run_id)

    def upload(self, session_id: str, owner_id: str, path: str, name: str, data: bytes) -> dict[str, Any]:
        handle = self.ensure(session_id, owner_id)
        return self._guarded(session_id, handle, lambda: self.tools.upload(handle, path, name, data))

    def view(self, session_id: str, function: str, args: dict[str, Any]) -> dict[str, Any]:
        """A look into the session's existing sandbox (the shell and file views); see call_existing."""
        return self.call_existing(session_id, function, args)

    def call_existing(
        self, session_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]:
        """A tool function in the session's existing sandbox, never starting one: with none, or a lost
        one, 409 and why. For views, and for cancel (shell_kill, browser_stop), which must not start a
        sandbox just to stop something in it."""
        handle = self._existing(session_id, run_id)
        return self._guarded(session_id, handle, lambda: self.tools.call(handle, function, args), run_id)

    def fetch(self, session_id: str, path: str) -> bytes:
        """A file's bytes from the session's existing sandbox (exporting what the agent wrote)."""
        handle = self._existing(session_id)
        return self._guarded(session_id, handle, lambda: self.tools.download(handle, path))

    def _existing(self, session_id: str, run_id: str | None = None) -> SandboxHandle:
        record = self.records.get(session_id)
        if record is None or record.status is SandboxStatus.RELEASED:
            raise Conflict(
                "the session has no sandbox yet (or it was stopped when idle); "
                "one starts with the session's next tool use"
            )
        if record.status is SandboxStatus.PROVISIONING or record.handle is None:
            raise Conflict("the session's sandbox is still starting")
        if record.status is SandboxStatus.LOST:
            raise Conflict(LOST_MESSAGE)
        handle = record.handle
        if not self.provider.healthy(handle):
            self._lose(record, run_id)
            raise Conflict(LOST_MESSAGE)
        return handle

    def is_ready(self, session_id: str) -> bool:
        """Whether the session has a sandbox its record calls ready (no health probe: a hint)."""
        record = self.records.get(session_id)
        return record is not None and record.status is SandboxStatus.READY

    def ready_handle(self, session_id: str) -> SandboxHandle:
        """The handle of a ready, healthy sandbox (for the VNC proxy); 409 otherwise."""
        record = self.records.get(session_id)
        if record is None or record.status is not SandboxStatus.READY or record.handle is None:
            raise Conflict("the session has no ready sandbox")
        if not self.provider.healthy(record.handle):
            self._lose(record)
            raise Conflict(LOST_MESSAGE)
        return record.handle

    def _guarded(
        self, session_id: str, handle: SandboxHandle, call: Callable[[], T], run_id: str | None = None
    ) -> T:
        try:
            result = call()
        except SandboxHung as hung:
            # Stuck, not gone: stop it (its processes with it) and fail this call for the caller to
            # read; the next call starts a new sandbox. Not retried: the call may have half happened.
            record = self.records.get(session_id)
            if record is not None and record.sandbox_id == handle.sandbox_id:
                self._lose(record, run_id)
            else:
                self.provider.release(handle)
            raise Unavailable(f"{hung}; it was stopped, and the next call starts a new one") from None
        except SandboxUnreachable:
            record = self.records.get(session_id)
            if record is not None and record.sandbox_id == handle.sandbox_id:
                self._lose(record, run_id)
            raise Unavailable(LOST_MESSAGE, retryable=True) from None
        self.records.touch(session_id, handle.sandbox_id, self.clock())
        return result

    # --- release and reap -----------------------------------------------------------------------

    def release(self, session_id: str) -> bool:
        """Stop the session's sandbox (session delete). True if there was a live one."""
        record = self.records.get(session_id)
        if record is None or not record.status.is_live:
            return False
        if record.handle is not None:
            self.provider.release(record.handle)
        if self.records.set_status(session_id, record.sandbox_id, SandboxStatus.RELEASED):
            self.events.emit(session_id, record.sandbox_id, SandboxStatus.RELEASED, record.backend)
        return True

    def sweep_dead(self) -> list[str]:
        """Mark lost the ready sandboxes that no longer answer (crashed, stopped by their own idle
        timer, or gone with a restarted local server), so sessions show it and events say it without
        waiting for the next use. Returns the sessions whose sandbox was found dead."""
        dead: list[str] = []
        for record in self.records.idle(self.clock() + timedelta(days=1)):  # every ready one
            if record.handle is not None and not self.provider.healthy(record.handle):
                self._lose(record)
                dead.append(record.session_id)
        return dead

    def reap_idle(self, idle_seconds: float) -> list[str]:
        """Release ready sandboxes unused for `idle_seconds`; returns the sessions whose sandbox went.

        The release is conditional on the last use the reaper saw, so a sandbox used in between stays.
        """
        cutoff = self.clock() - timedelta(seconds=idle_seconds)
        reaped: list[str] = []
        for record in self.records.idle(cutoff):
            if not self.records.set_status(
                record.session_id,
                record.sandbox_id,
                SandboxStatus.RELEASED,
                only_from=SandboxStatus.READY,
                last_used_at=record.last_used_at,
            ):
                continue
            workspace = None
            if record.handle is not None:
                workspace = self._save(record.session_id, record.handle)
                self.provider.release(record.handle)
            self.events.emit(
                record.session_id, record.sandbox_id, SandboxStatus.RELEASED, record.backend, None, workspace
            )
            reaped.append(record.session_id)
        return reaped

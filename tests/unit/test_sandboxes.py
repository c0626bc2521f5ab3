"""Sandbox lifecycle use cases against in-memory fakes: Given / When / Then."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from riadex.application.sandboxes import EventLogSandboxEvents, Sandboxes
from riadex.domain.errors import Conflict, NotFound, Unavailable
from riadex.domain.models import Session
from riadex.domain.sandboxes import SandboxStatus
from tests.unit.fakes import FakeEvents, FakeSessions
from tests.unit.sandbox_fakes import FakeProvider, FakeRecords, FakeSandboxEvents, FakeTools

SID = "ses_" + "a" * 32
OWNER = "usr_" + "b" * 32


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make(delay: float = 0.0) -> tuple[Sandboxes, FakeRecords, FakeProvider, FakeSandboxEvents, Clock]:
    records = FakeRecords({SID})
    provider = FakeProvider(delay)
    events = FakeSandboxEvents()
    clock = Clock()
    sandboxes = Sandboxes(
        records=records,
        provider=provider,
        events=events,
        tools=FakeTools(provider),
        provision_timeout_seconds=30,
        poll_seconds=0.01,
        clock=clock,
    )
    return sandboxes, records, provider, events, clock


def test_first_use_starts_one_sandbox_and_later_uses_reuse_it() -> None:
    sandboxes, records, provider, events, _ = make()
    first = sandboxes.ensure(SID, OWNER)
    second = sandboxes.ensure(SID, OWNER)
    assert first == second
    assert provider.started == [first.sandbox_id]
    assert events.statuses(SID) == ["provisioning", "ready"]
    record = records.get(SID)
    assert record is not None
    assert record.status is SandboxStatus.READY


def test_concurrent_first_uses_start_a_single_sandbox() -> None:
    sandboxes, _, provider, events, _ = make(delay=0.2)
    sandboxes.clock = lambda: datetime.now(UTC)  # real time: the losers poll while the winner starts
    handles = []
    threads = [
        threading.Thread(target=lambda: handles.append(sandboxes.ensure(SID, OWNER))) for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(provider.started) == 1
    assert {h.sandbox_id for h in handles} == {provider.started[0]}
    assert events.statuses(SID) == ["provisioning", "ready"]


def test_a_dead_sandbox_is_reported_lost_once_and_replaced_on_next_use() -> None:
    sandboxes, _, provider, events, _ = make()
    old = sandboxes.ensure(SID, OWNER)
    provider.kill(old.sandbox_id)
    new = sandboxes.ensure(SID, OWNER)
    assert new.sandbox_id != old.sandbox_id
    assert events.statuses(SID) == ["provisioning", "ready", "lost", "provisioning", "ready"]


def test_a_sandbox_that_vanishes_mid_call_fails_the_call_retryably_and_is_replaced() -> None:
    sandboxes, records, provider, events, _ = make()
    old = sandboxes.ensure(SID, OWNER)
    tools = sandboxes.tools
    assert isinstance(tools, FakeTools)

    # It dies after the health check passed: the call itself finds nobody there.
    real_healthy = provider.healthy
    provider.healthy = lambda handle: True  # type: ignore[method-assign]
    provider.kill(old.sandbox_id)
    with pytest.raises(Unavailable) as caught:
        sandboxes.call_tool(SID, OWNER, "shell_exec", {"command": "true"})
    assert caught.value.details == {"retryable": True}
    record = records.get(SID)
    assert record is not None
    assert record.status is SandboxStatus.LOST
    provider.healthy = real_healthy  # type: ignore[method-assign]

    result = sandboxes.call_tool(SID, OWNER, "shell_exec", {"command": "true"})
    assert result["sandbox"] != old.sandbox_id
    assert events.statuses(SID).count("lost") == 1


def test_a_failed_start_is_reported_and_the_next_use_tries_again() -> None:
    sandboxes, _records, provider, events, _ = make()
    provider.fail_next = True
    with pytest.raises(RuntimeError):
        sandboxes.ensure(SID, OWNER)
    assert events.statuses(SID) == ["provisioning", "lost"]
    handle = sandboxes.ensure(SID, OWNER)
    assert provider.started == [handle.sandbox_id]


def test_a_stale_provisioning_claim_is_taken_over() -> None:
    sandboxes, records, provider, _, clock = make()
    provider.fail_next = True
    # A provisioner that crashed leaves its claim behind: simulate with a claim that never completes.
    from riadex.domain.sandboxes import SandboxRecord

    records.claim(
        SandboxRecord(SID, OWNER, "sbx_" + "c" * 32, "fake", SandboxStatus.PROVISIONING, clock(), clock()),
        None,
    )
    provider.fail_next = False
    clock.advance(31)
    handle = sandboxes.ensure(SID, OWNER)
    assert handle.sandbox_id != "sbx_" + "c" * 32


def test_a_use_during_someone_elses_provisioning_waits_for_their_sandbox() -> None:
    sandboxes, records, provider, _, clock = make()
    from riadex.domain.sandboxes import SandboxRecord

    theirs = "sbx_" + "c" * 32
    records.claim(
        SandboxRecord(SID, OWNER, theirs, "fake", SandboxStatus.PROVISIONING, clock(), clock()), None
    )

    def their_start_completes(_: float) -> None:
        handle = provider.acquire(theirs, SID, OWNER)
        records.mark_ready(SID, handle, clock())

    sandboxes.sleep = their_start_completes
    assert sandboxes.ensure(SID, OWNER).sandbox_id == theirs
    assert provider.started == [theirs]


def test_views_never_start_a_sandbox() -> None:
    sandboxes, _, provider, _, _ = make()
    with pytest.raises(Conflict, match="no sandbox yet"):
        sandboxes.view(SID, "shell_view", {"session_id": "default"})
    assert provider.started == []


def test_a_view_of_a_dead_sandbox_says_it_was_lost() -> None:
    sandboxes, _, provider, events, _ = make()
    handle = sandboxes.ensure(SID, OWNER)
    provider.kill(handle.sandbox_id)
    with pytest.raises(Conflict, match="stopped"):
        sandboxes.view(SID, "shell_view", {"session_id": "default"})
    assert events.statuses(SID)[-1] == "lost"
    with pytest.raises(Conflict):
        sandboxes.view(SID, "shell_view", {"session_id": "default"})


def test_release_stops_the_sandbox_and_is_idempotent() -> None:
    sandboxes, records, provider, events, _ = make()
    handle = sandboxes.ensure(SID, OWNER)
    assert sandboxes.release(SID) is True
    assert handle.sandbox_id not in provider.running
    assert sandboxes.release(SID) is False
    assert events.statuses(SID)[-1] == "released"
    record = records.get(SID)
    assert record is not None
    assert record.status is SandboxStatus.RELEASED


def test_the_reaper_releases_only_idle_sandboxes() -> None:
    sandboxes, _, provider, events, clock = make()
    handle = sandboxes.ensure(SID, OWNER)
    clock.advance(100)
    assert sandboxes.reap_idle(idle_seconds=200) == []
    assert handle.sandbox_id in provider.running
    clock.advance(150)
    assert sandboxes.reap_idle(idle_seconds=200) == [SID]
    assert handle.sandbox_id not in provider.running
    assert events.statuses(SID)[-1] == "released"
    assert sandboxes.ensure(SID, OWNER).sandbox_id != handle.sandbox_id


def test_the_reaper_spares_a_sandbox_used_after_it_looked() -> None:
    sandboxes, records, provider, _, clock = make()
    handle = sandboxes.ensure(SID, OWNER)
    clock.advance(500)
    stale = records.idle(clock())
    sandboxes.ensure(SID, OWNER)  # a use between the reaper's scan and its release
    records.idle = lambda before: stale  # type: ignore[method-assign]
    assert sandboxes.reap_idle(idle_seconds=200) == []
    assert handle.sandbox_id in provider.running


def test_a_deleted_session_is_not_found() -> None:
    sandboxes, records, _, _, _ = make()
    records.sessions.clear()
    with pytest.raises(NotFound):
        sandboxes.ensure(SID, OWNER)


def test_the_sweep_marks_dead_ready_sandboxes_lost_without_waiting_for_a_use() -> None:
    sandboxes, records, provider, events, _ = make()
    handle = sandboxes.ensure(SID, OWNER)
    assert sandboxes.sweep_dead() == []
    provider.kill(handle.sandbox_id)
    assert sandboxes.sweep_dead() == [SID]
    record = records.get(SID)
    assert record is not None
    assert record.status is SandboxStatus.LOST
    assert events.statuses(SID)[-1] == "lost"
    assert sandboxes.sweep_dead() == []


def test_the_local_reaper_thread_reaps_on_its_own() -> None:
    from riadex.entrypoints.scheduled.reaper import PeriodicReaper

    sandboxes, _, provider, events, _ = make()
    sandboxes.clock = lambda: datetime.now(UTC)
    handle = sandboxes.ensure(SID, OWNER)
    reaper = PeriodicReaper(sandboxes, idle_seconds=0.0, every_seconds=0.02)
    reaper.start()
    try:
        for _ in range(500):
            if "released" in events.statuses(SID):
                break
            threading.Event().wait(0.01)
    finally:
        reaper.stop()
    assert handle.sandbox_id not in provider.running
    assert events.statuses(SID)[-1] == "released"


def test_on_ready_hooks_run_once_the_sandbox_is_ready_and_cannot_fail_it() -> None:
    sandboxes, _, _, events, _ = make()
    seen: list[tuple[str, str]] = []

    def broken(session_id: str, handle: object) -> None:
        raise RuntimeError("hook failed")

    sandboxes.on_ready += [broken, lambda sid, handle: seen.append((sid, handle.sandbox_id))]
    handle = sandboxes.ensure(SID, OWNER)
    assert seen == [(SID, handle.sandbox_id)]
    sandboxes.ensure(SID, OWNER)
    assert len(seen) == 1  # reuse is not a new sandbox
    assert events.statuses(SID) == ["provisioning", "ready"]


def test_sandbox_events_caused_by_a_run_carry_its_id() -> None:
    sandboxes, _, provider, events, _ = make()
    handle = sandboxes.ensure(SID, OWNER, run_id="run_1")
    provider.kill(handle.sandbox_id)
    sandboxes.call_tool(SID, OWNER, "shell_exec", {"command": "true"}, run_id="run_2")
    sandboxes.release(SID)
    assert events.statuses(SID) == ["provisioning", "ready", "lost", "provisioning", "ready", "released"]
    assert events.run_ids == ["run_1", "run_1", "run_2", "run_2", "run_2", None]


def test_a_sandbox_event_goes_to_the_run_in_progress_not_to_an_ended_one() -> None:
    """A cancelled run's acquire may finish while the next run is in progress: its `ready` is part of
    the run in progress (a session-level event there would split that run's part of the log)."""
    now = datetime.now(UTC)
    sessions = FakeSessions()
    sessions.add(Session("ses_1", "usr_a", "t", now, now, active_run_id="run_2"))
    log = FakeEvents(sessions)
    log.append("ses_1", "done", {}, key="run_1/done", run_id="run_1")
    events = EventLogSandboxEvents(log)
    events.emit("ses_1", "sbx_1", SandboxStatus.READY, "process", run_id="run_1")
    log.append("ses_1", "done", {}, key="run_2/done", run_id="run_2")
    events.emit("ses_1", "sbx_1", SandboxStatus.RELEASED, "process", run_id="run_2")
    assert [(e.type, e.run_id) for e in log.items] == [
        ("done", "run_1"),
        ("sandbox", "run_2"),
        ("done", "run_2"),
        ("sandbox", None),
    ]

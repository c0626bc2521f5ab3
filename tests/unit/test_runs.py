"""Run use cases against in-memory fakes: Given / When / Then."""

from __future__ import annotations

from typing import Any

import pytest

from riadex.application import sessions as session_use
from riadex.application import streams
from riadex.application.runs import RunLimits, RunService
from riadex.domain.errors import (
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    RunNotOpen,
    SessionBusy,
    TooLarge,
)
from riadex.domain.events import EventType
from riadex.domain.models import RunStatus
from tests.unit.fakes import FakeEvents, FakeObjects, FakeRuns, FakeSessions, FakeWorkflow


class World:
    def __init__(self) -> None:
        self.sessions = FakeSessions()
        self.runs = FakeRuns(self.sessions)
        self.events = FakeEvents(self.sessions, self.runs)
        self.workflow = FakeWorkflow()
        self.objects = FakeObjects()
        self.service = RunService(
            self.sessions,
            self.runs,
            self.events,
            self.workflow,
            self.objects,
            RunLimits(max_message_chars=100, inline_output_chars=1024),
        )
        self.session = session_use.create_session("usr_a", None, self.sessions, 200)
        self.sid = self.session.session_id

    def types(self) -> list[tuple[str, object]]:
        return [(e.type, e.data.get("status")) for e in self.events.read(self.sid, 0, None)]

    def dones(self) -> list[dict[str, object]]:
        return [e.data for e in self.events.of_type(self.sid, "done")]


@pytest.fixture
def world() -> World:
    return World()


class TestSendMessage:
    def test_creates_a_queued_run_with_its_opening_events_and_starts_it(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hello")
        assert run.status is RunStatus.QUEUED
        assert world.types() == [("run", "queued"), ("message", None)]
        assert world.events.read(world.sid, 1, None)[0].data == {"role": "user", "content": "hello"}
        assert world.workflow.started == [run.run_id]
        assert world.sessions.items[world.sid].active_run_id == run.run_id
        assert (run.first_seq, run.message_seq) == (1, 2)

    def test_a_busy_session_refuses_with_the_active_run(self, world: World) -> None:
        first = world.service.send_message("usr_a", world.sid, "one")
        with pytest.raises(SessionBusy) as caught:
            world.service.send_message("usr_a", world.sid, "two")
        assert caught.value.details == {"active_run_id": first.run_id}
        assert len(world.runs.items) == 1

    def test_same_key_same_body_is_the_same_run(self, world: World) -> None:
        first = world.service.send_message("usr_a", world.sid, "hi", idempotency_key="k1")
        again = world.service.send_message("usr_a", world.sid, "hi", idempotency_key="k1")
        assert again.run_id == first.run_id
        assert world.workflow.started == [first.run_id]
        assert len(world.events.items) == 2

    def test_same_key_other_body_is_refused(self, world: World) -> None:
        world.service.send_message("usr_a", world.sid, "hi", idempotency_key="k1")
        with pytest.raises(IdempotencyKeyReused):
            world.service.send_message("usr_a", world.sid, "other", idempotency_key="k1")

    @pytest.mark.parametrize(
        ("message", "attachments", "error"),
        [
            ("x" * 101, [], TooLarge),
            ("   ", [], InvalidInput),
            ("hi", ["not-a-file"], InvalidInput),
        ],
    )
    def test_bad_messages_write_nothing(
        self, world: World, message: str, attachments: list[str], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            world.service.send_message("usr_a", world.sid, message, attachments)
        assert world.runs.items == {}
        assert world.events.items == []

    def test_someone_elses_session_is_not_found(self, world: World) -> None:
        with pytest.raises(NotFound):
            world.service.send_message("usr_b", world.sid, "hi")


class TestLifecycle:
    def test_start_finish_gives_one_done_with_usage(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hello there")
        assert world.service.start(run.run_id) is True
        usage = {"input_tokens": 2, "output_tokens": 2, "tool_calls": 0, "steps": 1}
        world.service.finish(run.run_id, RunStatus.COMPLETED, usage=usage)
        world.service.finish(run.run_id, RunStatus.COMPLETED, usage=usage)  # a retried task
        assert world.types() == [
            ("run", "queued"),
            ("message", None),
            ("run", "running"),
            ("run", "completed"),
            ("done", "completed"),
        ]
        assert world.dones()[0]["usage"] == usage
        assert world.sessions.items[world.sid].active_run_id is None

    def test_cancel_queued_is_cancelled_at_once_and_start_then_declines(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        cancelled = world.service.cancel("usr_a", run.run_id)
        assert cancelled.status is RunStatus.CANCELLED
        assert world.service.start(run.run_id) is False
        nothing = {"input_tokens": 0, "output_tokens": 0, "tool_calls": 0, "steps": 0}
        assert cancelled.usage == nothing
        assert world.dones() == [{"status": "cancelled", "usage": nothing, "reason": "cancelled by the user"}]
        assert run.run_id in world.workflow.stopped

    def test_cancel_running_passes_through_cancelling_and_blocks_late_writes(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        world.service.cancel("usr_a", run.run_id)
        with pytest.raises(RunNotOpen):  # a worker still in flight: its write is refused
            world.service.writer.tool(world.runs.items[run.run_id], "late", {"status": "called"})
        world.service.finish(run.run_id, RunStatus.COMPLETED)  # and its finish changes nothing
        assert world.types()[-3:] == [("run", "cancelling"), ("run", "cancelled"), ("done", "cancelled")]
        assert len(world.dones()) == 1
        assert world.runs.items[run.run_id].status is RunStatus.CANCELLED

    @pytest.mark.parametrize("ending", [RunStatus.FAILED, RunStatus.COMPLETED, RunStatus.TIMED_OUT])
    def test_a_failure_or_completion_landing_after_the_cancel_marked_cancelling_ends_cancelled(
        self, world: World, ending: RunStatus
    ) -> None:
        """fail() read the run running and wrote its error; the cancel marked it cancelling before
        fail's finish: the cancel decides (the user was told `cancelled`)."""
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        world.service._mark_cancelling(run.run_id)
        ended = world.service.finish(run.run_id, ending, error={"code": "x", "message": "y"}, reason="x")
        assert ended.status is RunStatus.CANCELLED
        assert ended.error is None
        assert world.types()[-3:] == [("run", "cancelling"), ("run", "cancelled"), ("done", "cancelled")]
        assert [d["status"] for d in world.dones()] == ["cancelled"]

    def test_a_failure_whose_read_predates_the_cancel_still_ends_cancelled(self, world: World) -> None:
        """fail() read the run running; the cancel marks it cancelling just before fail's finish
        writes: the finish moves the run only from the status it read, so it reads again and the
        cancel decides. (Seen in CI: the run ended failed and the cancel's event followed the done.)"""
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        transition = world.runs.transition

        def cancel_lands_first(run_id: str, allowed_from: Any, to: RunStatus, **fields: Any) -> Any:
            if to is RunStatus.FAILED:
                world.service._mark_cancelling(run_id, "cancelled by the user")
            return transition(run_id, allowed_from, to, **fields)

        world.runs.transition = cancel_lands_first  # type: ignore[method-assign]
        ended = world.service.fail(run.run_id, "tool_crashed", "the tool crashed")
        assert ended.status is RunStatus.CANCELLED
        assert world.types()[-3:] == [("run", "cancelling"), ("run", "cancelled"), ("done", "cancelled")]
        assert len(world.dones()) == 1

    def test_a_cancelling_event_that_loses_to_the_closer_is_not_written_after_the_done(
        self, world: World
    ) -> None:
        """The cancel moved the run to cancelling; before its `cancelling` event lands, another
        closer ends the run. The event is dropped: nothing follows the done."""
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        transition = world.runs.transition

        def closer_between(run_id: str, allowed_from: Any, to: RunStatus, **fields: Any) -> Any:
            moved = transition(run_id, allowed_from, to, **fields)
            if to is RunStatus.CANCELLING:
                world.runs.transition = transition  # type: ignore[method-assign]
                world.service.finish(run_id, RunStatus.CANCELLED)
            return moved

        world.runs.transition = closer_between  # type: ignore[method-assign]
        world.service.cancel("usr_a", run.run_id)
        assert world.types()[-1] == ("done", "cancelled")
        assert ("run", "cancelling") not in world.types()
        assert len(world.dones()) == 1

    def test_a_cancel_closes_what_the_run_left_open_in_one_write_ending_with_done(self, world: World) -> None:
        """A run cancelled mid-tool: the call's `failed`, the step's `failed`, the plan showing it,
        `run{cancelled}` and `done`, in one append_many (a racing closer sees all of it or none)."""
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        writer = world.service.writer
        writer.append(run, EventType.PLAN, {"steps": [{"id": "1", "status": "running"}]}, "plan/0")
        writer.append(run, EventType.STEP, {"id": "1", "status": "started"}, "step/0/started")
        writer.append(run, EventType.TOOL, {"tool_call_id": "c1", "status": "calling"}, "think/0/0/call/0")
        world.service.cancel("usr_a", run.run_id)
        assert world.events.batches[-1] == [
            f"{run.run_id}/{name}"
            for name in ("tool/c1/result", "step/0/completed", "plan/closed", "ended", "done")
        ]
        assert world.types()[-6:] == [
            ("run", "cancelling"),
            ("tool", "failed"),
            ("step", "failed"),
            ("plan", None),
            ("run", "cancelled"),
            ("done", "cancelled"),
        ]

    def test_cancel_racing_the_start_still_ends_cancelled(self, world: World) -> None:
        """The start task moves the run to running between the cancel's read and its write."""
        run = world.service.send_message("usr_a", world.sid, "hi")
        transition = world.runs.transition
        raced: list[bool] = []

        def start_wins_the_race(run_id: str, allowed_from: Any, to: RunStatus, **fields: Any) -> Any:
            if to is RunStatus.CANCELLED and not raced:
                raced.append(True)
                world.service.start(run_id)
            return transition(run_id, allowed_from, to, **fields)

        world.runs.transition = start_wins_the_race  # type: ignore[method-assign]
        cancelled = world.service.cancel("usr_a", run.run_id)
        assert raced
        assert cancelled.status is RunStatus.CANCELLED
        assert world.types()[-3:] == [("run", "cancelling"), ("run", "cancelled"), ("done", "cancelled")]
        assert len(world.dones()) == 1

    def test_cancel_is_idempotent_and_finished_runs_are_returned_as_is(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        world.service.finish(run.run_id, RunStatus.COMPLETED)
        again = world.service.cancel("usr_a", run.run_id)
        assert again.status is RunStatus.COMPLETED
        assert len(world.dones()) == 1

    def test_cancel_of_another_users_run_is_not_found_and_changes_nothing(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        with pytest.raises(NotFound):
            world.service.cancel("usr_b", run.run_id)
        assert world.runs.items[run.run_id].status is RunStatus.QUEUED

    @pytest.mark.parametrize(
        ("execution", "status"),
        [("ABORTED", "cancelled"), ("FAILED", "failed"), ("TIMED_OUT", "timed_out")],
    )
    def test_finalizer_writes_the_missing_done_once(self, world: World, execution: str, status: str) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        world.service.finalize_execution(run.run_id, execution, "gone")
        world.service.finalize_execution(run.run_id, execution, "gone")
        assert [d["status"] for d in world.dones()] == [status]
        assert world.sessions.items[world.sid].active_run_id is None

    def test_fail_writes_error_then_done_failed(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        world.service.fail(run.run_id, "model_failed", "nope")
        assert [t for t, _ in world.types()][-3:] == ["error", "run", "done"]
        assert world.dones()[0]["status"] == "failed"

    def test_stop_session_cancels_the_active_run(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        session = world.service.stop_session("usr_a", world.sid)
        assert session.active_run_id is None
        assert world.runs.items[run.run_id].status is RunStatus.CANCELLED

    def test_delete_session_cancels_and_removes_runs_and_events(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.delete_session("usr_a", world.sid)
        assert world.runs.items == {}
        assert world.events.items == []
        assert world.sessions.items == {}
        assert run.run_id in world.workflow.stopped

    def test_large_tool_output_is_truncated_with_a_pointer(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        world.service.start(run.run_id)
        big = "y" * 5000
        event = world.service.writer.tool(
            run,
            "tool-1",
            {"tool_call_id": "c1", "name": "shell", "status": "called", "content": {"output": big}},
        )
        assert len(event.data["content"]["output"]) < 1100
        ref = event.data["truncated"]["ref"]
        assert world.objects.items[ref.removeprefix("mem://")] == '{"output":"' + big + '"}'


class TestStreams:
    @pytest.mark.parametrize(
        ("header", "query", "cursor"), [("5", "3", 5), (None, "3", 3), (None, None, None)]
    )
    def test_header_wins_over_query(self, header: str | None, query: str | None, cursor: int | None) -> None:
        assert streams.parse_cursor(header, query) == cursor

    @pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "", "9" * 30, "١٢"])
    def test_malformed_cursor(self, bad: str) -> None:
        with pytest.raises(InvalidInput):
            streams.parse_cursor(bad, None)

    def test_cursor_beyond_head_and_resync(self, world: World) -> None:
        run = world.service.send_message("usr_a", world.sid, "hi")
        with pytest.raises(InvalidInput):
            streams.open_session_stream("usr_a", world.sid, 3, world.sessions, world.events)
        assert not streams.open_session_stream("usr_a", world.sid, 1, world.sessions, world.events).resync
        world.events.items = [e for e in world.events.items if e.seq > 1]  # retention dropped seq 1
        assert streams.open_session_stream("usr_a", world.sid, 0, world.sessions, world.events).resync
        plan = streams.open_run_stream("usr_a", run.run_id, None, world.sessions, world.runs, world.events)
        assert (plan.after, plan.until_done_of, plan.finished) == (0, run.run_id, False)

    def test_pacing_is_fast_after_events_and_backs_off_to_idle(self) -> None:
        pacing = streams.PollPacing(fast=0.1, active_max=0.5, idle_max=2.0)
        assert pacing.next_interval(1.0, True, False) == 0.1
        interval = 0.1
        for _ in range(20):
            interval = pacing.next_interval(interval, False, True)
        assert interval == 0.5
        for _ in range(20):
            interval = pacing.next_interval(interval, False, False)
        assert interval == 2.0

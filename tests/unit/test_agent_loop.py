"""The loop's use cases against in-memory fakes and the scripted model (no sandbox: a fake one)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from riadex.adapters.llm.scripted import ScriptedAgentModel
from riadex.application.agent_loop import AgentLoop, LoopLimits, LoopPorts
from riadex.application.deltas import DeltaBatcher
from riadex.application.llm import ToolCall
from riadex.application.loop_state import LoopState
from riadex.application.search import SearchResult
from riadex.application.tool_runner import ToolRunner
from riadex.domain.errors import NotFound
from riadex.domain.models import RunStatus, SandboxInfo, utcnow
from tests.unit.fakes import FakeConversations
from tests.unit.test_runs import World


@pytest.fixture
def world() -> World:
    return World()


class FakeSandbox:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.saves: list[str] = []
        self.ensured: list[str] = []

    def ensure(self, session_id: str, owner_id: str, run_id: str | None = None) -> object:
        self.ensured.append(session_id)
        return object()

    def save_workspace(self, session_id: str, run_id: str | None = None) -> object:
        self.saves.append(session_id)
        return None

    def call_existing(
        self, session_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((function, args))
        return {}

    def call_tool(
        self, session_id: str, owner_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((function, args))
        if function == "file_read":
            raise NotFound(f"{args['file']}: no such file or directory")
        return {"output": f"ran {args}"}


class FakeSearch:
    name = "fake"

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        return [SearchResult("A result", "https://example.test/", f"about {query}")]


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def make_loop(world: World, clock: Clock | None = None, **limits: Any) -> tuple[AgentLoop, FakeSandbox]:
    sandbox = FakeSandbox()
    tools = ToolRunner(lambda: sandbox, FakeSearch, world.runs, cancel_poll_seconds=0.01)
    model = ScriptedAgentModel()
    ports = LoopPorts(
        runs=world.runs,
        sessions=world.sessions,
        log=world.events,
        events=world.service.writer,
        workflow=world.workflow,
        ending=world.service,
        conversations=FakeConversations(),
    )
    loop = AgentLoop(ports, lambda: model, tools, [], LoopLimits(**limits), clock=clock or utcnow)
    return loop, sandbox


def drive(loop: AgentLoop, run_id: str, state: LoopState | None = None) -> LoopState:
    """What the state machine does with `loop.next`, until the run is finished or paused."""
    state = state or loop.plan(run_id)
    while True:
        if state.next == "sandbox":  # StartSandbox: the acquire, not waited for, then Think
            loop.acquire_sandbox(run_id)
            state = loop.think(run_id, state)
        elif state.next == "think":
            state = loop.think(run_id, state)
        elif state.next == "act":
            state = loop.act(run_id, state)
        elif state.next == "summarize":
            state = loop.summarize(run_id, state)
        elif state.next == "finish":
            loop.ports.ending.finish(run_id, RunStatus.COMPLETED, usage=state.usage())
            return state
        else:
            return state


def start(world: World, message: str) -> str:
    run = world.service.send_message("usr_a", world.sid, message)
    assert world.service.start(run.run_id)
    return run.run_id


def test_a_run_plans_acts_step_by_step_and_summarizes(world: World) -> None:
    loop, sandbox = make_loop(world)
    run_id = start(world, "!shell ls\n!search riadex\n!read missing.txt")
    state = drive(loop, run_id)
    assert state.usage()["tool_calls"] == 3
    assert state.usage()["steps"] == 3
    assert [f for f, _ in sandbox.calls] == ["shell_exec", "file_read"]
    assert sandbox.saves == [world.sid, world.sid]  # after each act that used the sandbox, not the search
    tools = [e.data for e in world.events.read(world.sid, 0, None) if e.type == "tool"]
    assert [(t["name"], t["status"]) for t in tools] == [
        ("shell", "calling"),
        ("shell", "called"),
        ("search", "calling"),
        ("search", "called"),
        ("file", "calling"),
        ("file", "failed"),
    ]
    assert tools[3]["content"]["results"][0]["snippet"] == "about riadex"
    assert world.dones()[-1]["status"] == "completed"


def test_a_step_boundary_is_one_write(world: World) -> None:
    """The plan's start, each step's end with the plan and the next step's start, the last step's
    end with the final plan, and the run's closing: one append_many each, in the order a client
    reads them."""
    loop, _ = make_loop(world)
    run_id = start(world, "!shell ls\n!shell pwd\n!shell true")
    drive(loop, run_id)
    assert world.events.batches == [
        [f"{run_id}/plan/0", f"{run_id}/step/0/started"],
        [f"{run_id}/step/0/completed", f"{run_id}/plan/1", f"{run_id}/step/1/started"],
        [f"{run_id}/step/1/completed", f"{run_id}/plan/2", f"{run_id}/step/2/started"],
        [f"{run_id}/step/2/completed", f"{run_id}/plan/3"],
        [f"{run_id}/ended", f"{run_id}/done"],  # the finisher's closing events
    ]
    steps = [(e.type, e.data.get("id"), e.data.get("status")) for e in world.events.read(world.sid, 0, None)]
    boundary = steps.index(("step", "1", "completed"))
    assert steps[boundary : boundary + 3] == [
        ("step", "1", "completed"),
        ("plan", None, None),
        ("step", "2", "started"),
    ]


def test_the_wall_time_budget_ends_the_run_timed_out(world: World) -> None:
    clock = Clock()
    loop, _ = make_loop(world, clock, max_seconds=60)
    run_id = start(world, "!shell one\n!shell two")
    state = loop.think(run_id, loop.plan(run_id))
    clock.now += timedelta(seconds=61)
    assert loop.act(run_id, state).next == "think"
    assert loop.think(run_id, state).next == "end"
    done = world.dones()[-1]
    assert done["status"] == "timed_out"
    assert done["reason"] == "budget: ran longer than 60 s (RUN_MAX_SECONDS)"


def test_the_token_and_step_budgets_fail_the_run(world: World) -> None:
    loop, _ = make_loop(world, max_tokens=5)
    run_id = start(world, "!shell a fairly long command line to use some tokens")
    assert drive(loop, run_id).next == "end"
    assert world.dones()[-1]["reason"].startswith("budget: ")
    assert "RUN_MAX_TOKENS" in world.dones()[-1]["reason"]

    world2 = World()
    loop2, _ = make_loop(world2, max_steps=1)
    run2 = start(world2, "!shell one\n!shell two")
    assert drive(loop2, run2).next == "end"
    assert world2.dones()[-1]["reason"] == "budget: the plan needs more than 1 steps (RUN_MAX_STEPS)"
    assert world2.dones()[-1]["usage"]["steps"] == 1


def test_a_long_history_hands_over_to_a_continuation(world: World) -> None:
    loop, _ = make_loop(world, max_history_events=10)
    run_id = start(world, "!shell one")
    state = loop.plan(run_id)
    state = loop.think(run_id, state)
    state = loop.act(run_id, state)
    assert loop.think(run_id, state).next == "continue"
    loop.continue_run(run_id, world.sid, state)
    assert world.workflow.started[-1] == f"{run_id}-1"
    assert world.runs.items[run_id].execution == f"{run_id}-1"
    assert state.continuation == 1
    assert state.history == 0


def test_a_cancelled_run_writes_nothing_more(world: World) -> None:
    loop, _ = make_loop(world)
    run_id = start(world, "!shell one")
    state = loop.think(run_id, loop.plan(run_id))
    world.service.cancel("usr_a", run_id)
    before = len(world.events.read(world.sid, 0, None))
    assert loop.act(run_id, state).next == "end"
    assert len(world.events.read(world.sid, 0, None)) == before


def test_deltas_go_out_at_64_characters_or_after_100_ms() -> None:
    sent: list[str] = []
    now = [0.0]
    batcher = DeltaBatcher(sent.append, clock=lambda: now[0])
    batcher("a" * 30)
    batcher("b" * 30)
    assert sent == []
    batcher("c" * 10)
    assert sent == ["a" * 30 + "b" * 30 + "c" * 10]
    batcher("d")
    now[0] += 0.1
    batcher("e")
    assert sent[-1] == "de"
    batcher("f")
    batcher.flush()
    assert sent[-1] == "f"
    assert batcher.batches == 3


def test_a_slow_write_does_not_shrink_the_next_batches() -> None:
    """The 100 ms count from the end of a write: after a write that took 300 ms, the next chunks
    still gather up to 64 characters (or 100 ms) instead of going out one by one."""
    now = [0.0]
    sent: list[str] = []

    def slow_write(text: str) -> None:
        sent.append(text)
        now[0] += 0.3

    batcher = DeltaBatcher(slow_write, clock=lambda: now[0])
    batcher("a" * 64)
    batcher("b" * 16)
    batcher("c" * 16)
    assert sent == ["a" * 64]
    now[0] += 0.1
    batcher("d")
    assert sent[-1] == "b" * 16 + "c" * 16 + "d"


def test_loop_state_survives_the_payload_and_ignores_unknown_keys() -> None:
    state = LoopState(step=2, tool_calls=5, input_tokens=10)
    again = LoopState.of({**state.as_dict(), "something": "new"})
    assert again == state
    assert LoopState.of(None) == LoopState()


@pytest.mark.parametrize("status", [RunStatus.CANCELLED, RunStatus.FAILED])
def test_tasks_of_a_finished_run_end_at_once(world: World, status: RunStatus) -> None:
    loop, sandbox = make_loop(world)
    run_id = start(world, "!shell one")
    world.service.finish(run_id, status)
    assert loop.plan(run_id).next == "end"
    assert loop.think(run_id, LoopState()).next == "end"
    assert sandbox.calls == []


class CountingEvents:
    """The loop's event log, noting every event a read returns."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.returned: list[Any] = []

    def read(self, *args: Any, **kwargs: Any) -> Any:
        found = self.inner.read(*args, **kwargs)
        self.returned.extend(found)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_step_is_one_think_that_runs_its_fast_tools_itself(world: World) -> None:
    loop, sandbox = make_loop(world)
    run_id = start(world, "!shell one\n!shell two\n!shell three")
    tasks: list[str] = []
    state = loop.plan(run_id)
    while state.next in ("sandbox", "think", "act"):
        task = "think" if state.next == "sandbox" else state.next  # the sandbox's start is not waited for
        tasks.append(task)
        state = getattr(loop, task)(run_id, state)
    assert tasks == ["think", "think", "think"]
    assert len(sandbox.calls) == 3
    assert state.next == "summarize"


def test_calls_left_after_the_inline_time_go_to_act(world: World) -> None:
    loop, sandbox = make_loop(world, inline_tool_seconds=0)
    run_id = start(world, "!shell one")
    state = loop.think(run_id, loop.plan(run_id))
    assert state.next == "act"
    assert sandbox.calls == []
    assert loop.act(run_id, state).next == "think"
    assert [f for f, _ in sandbox.calls] == ["shell_exec"]
    assert drive(loop, run_id, loop.think(run_id, state)).usage()["tool_calls"] == 1
    assert world.dones()[-1]["status"] == "completed"


@pytest.mark.parametrize("prior", [10, 1000])
def test_a_step_reads_only_what_it_has_not_seen_whatever_the_history(world: World, prior: int) -> None:
    loop, _ = make_loop(world)
    first = start(world, "earlier")
    drive(loop, first)  # the previous run leaves its snapshot
    for index in range(prior):
        world.events.append(world.sid, "delta", {"message_id": "m", "text": "x"}, key=f"seed/{index}")
    run_id = start(world, "!shell one\n!shell two\n!shell three")
    counting = CountingEvents(world.events)
    loop._log = counting  # type: ignore[assignment]
    state = loop.plan(run_id)  # a new run catches up once: the previous run's snapshot + what followed
    counting.returned.clear()
    while state.next in ("sandbox", "think"):
        state = loop.think(run_id, state)
    assert state.next == "summarize"
    # Each Think reads nothing it or another task has already folded: no delta, no event twice.
    assert counting.returned == []
    drive(loop, run_id, state)
    assert world.dones()[-1]["status"] == "completed"


def test_the_snapshot_conversation_is_the_one_rebuilt_from_the_log(world: World) -> None:
    from riadex.application.conversation import RunConversation, conversation_from_events

    loop, _ = make_loop(world)
    for message in ("!shell one\n!search two", "plain question", "!read missing.txt"):
        drive(loop, start(world, message))
    events = world.events.read(world.sid, 0, None)
    last_run = events[-1].run_id
    assert last_run is not None
    snapshot = RunConversation.of(loop.ports.conversations.load(last_run))
    for event in events:
        if event.seq > snapshot.cursor:
            snapshot.fold(event)
    assert snapshot.messages() == conversation_from_events(events)


def test_a_run_after_a_cancelled_one_does_its_own_steps(world: World) -> None:
    """The cancel closes the first run's open step after its last snapshot: the next run folds that
    event but must not take the step for one of its own (it would skip the model call)."""
    loop, sandbox = make_loop(world)
    first = start(world, "!shell one\n!shell two")
    state = loop.think(first, loop.plan(first))  # step 1 done, step 2 started
    assert state.next == "think"
    world.service.cancel("usr_a", first)
    closed = [e.data for e in world.events.read(world.sid, 0, None) if e.type == "step"]
    assert closed[-1]["status"] == "failed"  # the cancel closed the open step
    sandbox.calls.clear()
    second = start(world, "!shell three\n!shell four")
    drive(loop, second)
    assert [args["command"] for _, args in sandbox.calls] == ["three", "four"]
    assert world.dones()[-1]["status"] == "completed"


def test_a_closer_that_finds_a_step_failed_but_not_its_plan_writes_the_plan_before_done(world: World) -> None:
    """Two closers race (a cancel and the execution's end): the first stored the open step's `failed`
    and had yet to store the plan snapshot showing it when the second read the log. The second writes
    that snapshot (the same key) before the `done`: no event of the run may follow its `done`."""
    from riadex.domain.events import EventType

    loop, _ = make_loop(world)
    run_id = start(world, "!shell one\n!shell two")
    assert loop.think(run_id, loop.plan(run_id)).next == "think"  # step 1 done, step 2 started
    run = world.runs.get(run_id)
    assert run is not None
    step = {"id": "2", "description": "!shell two", "status": "failed"}
    world.service.writer.append(run, EventType.STEP, step, "step/1/completed", while_in=None)
    world.service.cancel("usr_a", run_id)
    mine = [e for e in world.events.read(world.sid, 0, None) if e.run_id == run_id]
    assert mine[-1].type == "done"
    last_plan = [e for e in mine if e.type == "plan"][-1]
    assert [s["status"] for s in last_plan.data["steps"]] == ["completed", "failed"]


@pytest.mark.parametrize(
    ("message", "after_plan"),
    [
        ("hello", "summarize"),  # a plain answer: no step, no sandbox
        ("!search riadex\n!ask which one?", "think"),  # steps, but none in the sandbox
        ("!search riadex\n!shell ls", "sandbox"),  # a sandbox step: its start goes ahead
        ("!write a.txt x", "sandbox"),
    ],
)
def test_only_a_plan_with_sandbox_steps_starts_the_sandbox_ahead(
    world: World, message: str, after_plan: str
) -> None:
    loop, sandbox = make_loop(world)
    run_id = start(world, message)
    assert loop.plan(run_id).next == after_plan
    assert sandbox.ensured == []  # the plan itself never starts one


def test_a_session_whose_sandbox_is_up_gets_no_head_start(world: World) -> None:
    loop, _ = make_loop(world)
    world.sessions.items[world.sid].sandbox = SandboxInfo(status="ready", backend="process")
    assert loop.plan(start(world, "!shell ls")).next == "think"


class LateStartingSandbox(FakeSandbox):
    """A sandbox that starts the shell command only after the first kill has come and gone (a sandbox
    still starting when the cancel lands): a kill kills only a command that has started."""

    def __init__(self) -> None:
        super().__init__()
        self.kills = 0
        self.started = threading.Event()
        self.killed = threading.Event()

    def call_existing(
        self, session_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]:
        assert function == "shell_kill"
        self.kills += 1
        if self.started.is_set():
            self.killed.set()
        else:
            self.started.set()  # this kill found nothing running; the command starts just after it
        return {}

    def call_tool(
        self, session_id: str, owner_id: str, function: str, args: dict[str, Any], run_id: str | None = None
    ) -> dict[str, Any]:
        if not self.killed.wait(30):  # the command's whole course, were it never killed
            return {"output": "ran to the end", "exit_code": 0}
        return {"output": "", "exit_code": 143}


def test_a_cancel_before_the_command_starts_still_kills_it(world: World) -> None:
    sandbox = LateStartingSandbox()
    tools = ToolRunner(lambda: sandbox, FakeSearch, world.runs, cancel_poll_seconds=0.01)
    run_id = start(world, "!sleep 30")
    world.service.cancel("usr_a", run_id)
    began = time.monotonic()
    outcome = tools.run(world.runs.items[run_id], ToolCall("call_1", "shell_exec", {"command": "sleep 30"}))
    assert outcome.content["exit_code"] == 143
    assert sandbox.kills >= 2
    assert time.monotonic() - began < 10

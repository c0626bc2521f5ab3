"""The agent loop's own cost on the local stack: what a step costs beyond the model and the tool.

A run of STEPS `!shell true` directives (scripted model, real `process` sandbox, the deployed ASL on
moto, each task through its functions/<name>/handler.py behind the local Lambda Invoke server) after one
warm-up run:
- per step: wall time from `step{started}` to `step{completed}` (two model calls and one tool call:
  all in one Think task), the time inside the model (timed around AgentModel.act), the tool's own
  `duration_ms`, and the rest = orchestration overhead (Step Functions transitions, Lambda invokes,
  event log reads and writes, rebuilding the conversation);
- state transitions per step and per run, from the execution's history (StateEntered events).
Figures are medians over the steps of the measured run. moto's Step Functions polls and hops through
HTTP for every task, so AWS's own overhead differs; the number of transitions (what AWS bills) does not.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3

from riadex.adapters.stepfunctions.workflow import execution_arn
from riadex.application.agent_model import AgentModel, Plan
from riadex.application.llm import ChatMessage, ModelReply, ToolSpec
from riadex.config import Settings
from riadex.entrypoints.local.stack import LocalStack

STEPS = 8


class TimedModel:
    """The model with a stopwatch on `act`, by step."""

    def __init__(self, inner: AgentModel) -> None:
        self.inner = inner
        self.act_seconds: dict[int, float] = {}

    def plan(self, conversation: Sequence[ChatMessage], tools: Sequence[ToolSpec], **kw: Any) -> Plan:
        return self.inner.plan(conversation, tools, **kw)

    def act(
        self, conversation: Sequence[ChatMessage], plan: Plan, step: int, tools: Sequence[ToolSpec], **kw: Any
    ) -> ModelReply:
        start = time.perf_counter()
        try:
            return self.inner.act(conversation, plan, step, tools, **kw)
        finally:
            self.act_seconds[step] = self.act_seconds.get(step, 0.0) + time.perf_counter() - start

    def summarize(
        self, conversation: Sequence[ChatMessage], plan: Plan, tools: Sequence[ToolSpec], **kw: Any
    ) -> ModelReply:
        return self.inner.summarize(conversation, plan, tools, **kw)


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data:
        stack = LocalStack(Settings(RIADEX_DATA_DIR=Path(data), snapshot_interval_seconds=0))
        settings = stack.start()
        try:
            return _measure(stack, settings)
        finally:
            container = stack.container
            if container is not None:
                container.sandboxes.provider.release_all()  # type: ignore[attr-defined]
            stack.stop()


def _measure(stack: LocalStack, settings: Settings) -> dict[str, object]:
    container = stack.container
    assert container is not None

    from riadex.application.sessions import create_session
    from riadex.domain.models import utcnow

    session = create_session("usr_" + "0" * 32, None, container.sessions, settings.max_title_chars)
    message = "\n".join(["bench"] + ["!shell true"] * STEPS)
    # warm-up: the sandbox starts, the functions are warm
    run_until_done(container, session.session_id, message)
    # The loop of the warm Think function (functions/think/handler.py's container), its model timed.
    loop = stack.functions["think"].environment.built[0].agent_loop()
    timed = TimedModel(loop.model())
    loop.model = lambda: timed
    started = utcnow()
    run_id, events = run_until_done(container, session.session_id, message)
    wall_ms, model_ms, tool_ms, overhead_ms = [], [], [], []
    begun: dict[str, Any] = {}
    tools = [e for e in events if e.type == "tool" and e.data["status"] == "called"]
    for event in events:
        if event.type != "step":
            continue
        if event.data["status"] == "started":
            begun[event.data["id"]] = event.ts
            continue
        index = int(event.data["id"]) - 1
        wall = (event.ts - begun[event.data["id"]]).total_seconds() * 1000
        model = timed.act_seconds.get(index, 0.0) * 1000
        tool = float(tools[index].data["duration_ms"])
        wall_ms.append(wall)
        model_ms.append(model)
        tool_ms.append(tool)
        overhead_ms.append(wall - model - tool)
    extra = {**_first_event_and_cancel(container), **_reads_per_step(container, loop)}
    entered = _states_entered(settings, run_id)
    loop_states = sum(count for name, count in entered.items() if name in ("Think", "Act", "Route"))
    run_seconds = (events[-1].ts - started).total_seconds()
    return {
        "agent_step_wall_ms_p50": round(statistics.median(wall_ms), 1),
        "agent_step_model_ms_p50": round(statistics.median(model_ms), 1),
        "agent_step_tool_ms_p50": round(statistics.median(tool_ms), 1),
        "agent_step_overhead_ms_p50": round(statistics.median(overhead_ms), 1),
        "agent_step_overhead_ms_max": round(max(overhead_ms), 1),
        "agent_state_transitions_per_step": round(loop_states / STEPS, 2),
        "agent_state_transitions_per_run": sum(entered.values()),
        "agent_run_seconds": round(run_seconds, 2),
        "agent_steps_per_run": STEPS,
        **extra,
    }


OWNER = "usr_" + "0" * 32
TRIES = 7


def _wait_for(container: Any, session_id: str, run_id: str, found: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in container.events.read(session_id, 0, None):
            if event.run_id == run_id and found(event):
                return event
        time.sleep(0.01)
    raise RuntimeError("the bench run did not get there")


def _first_event_and_cancel(container: Any) -> dict[str, object]:
    """POST message → the first agent event (`plan`), and cancel → the run no longer running."""
    from riadex.application.sessions import create_session
    from riadex.domain.models import utcnow

    first_ms, cancel_ms = [], []
    for _ in range(TRIES):
        session = create_session(OWNER, None, container.sessions, 200)
        sent = utcnow()
        run = container.run_service.send_message(OWNER, session.session_id, "first\n!shell sleep 30")
        plan = _wait_for(container, session.session_id, run.run_id, lambda e: e.type == "plan")
        first_ms.append((plan.ts - sent).total_seconds() * 1000)
        _wait_for(container, session.session_id, run.run_id, lambda e: e.type == "tool")
        started = time.perf_counter()
        container.run_service.cancel(OWNER, run.run_id)
        while container.runs.get(run.run_id).status.value in ("running", "cancelling"):
            time.sleep(0.001)
        cancel_ms.append((time.perf_counter() - started) * 1000)
        _wait_for(container, session.session_id, run.run_id, lambda e: e.type == "done")
    return {
        "agent_first_event_ms_p50": round(statistics.median(first_ms), 1),
        "agent_cancel_to_not_running_ms_p50": round(statistics.median(cancel_ms), 1),
        "agent_cancel_to_not_running_ms_max": round(max(cancel_ms), 1),
    }


class CountingLog:
    """The loop's event log, counting the Queries and items its Think tasks read."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.counting = False
        self.queries = 0
        self.items = 0

    def read(self, *args: Any, **kwargs: Any) -> Any:
        found = self.inner.read(*args, **kwargs)
        if self.counting:
            self.queries += 1
            self.items += len(found)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _reads_per_step(container: Any, loop: Any) -> dict[str, object]:
    """Events read per step (Think) after 10 and after 1,000 prior events in the session."""
    from riadex.application.sessions import create_session

    counting = CountingLog(loop._log)
    loop._log = counting
    think = loop.think

    def counted_think(*args: Any, **kwargs: Any) -> Any:
        counting.counting = True
        try:
            return think(*args, **kwargs)
        finally:
            counting.counting = False

    loop.think = counted_think
    figures: dict[str, object] = {}
    try:
        for prior in (10, 1000):
            session = create_session(OWNER, None, container.sessions, 200)
            for index in range(prior):
                kind = ("message", {"role": "user" if index % 2 else "assistant", "content": f"m{index}"})
                if index % 3 == 2:
                    kind = ("delta", {"message_id": "msg_x", "text": "some text"})
                container.events.append(session.session_id, kind[0], kind[1], key=f"seed/{index}")
            counting.queries = counting.items = 0
            run_until_done(container, session.session_id, "\n".join(["reads"] + ["!shell true"] * 4))
            figures[f"agent_think_events_read_per_step_{prior}_prior"] = round(counting.items / 4, 1)
            figures[f"agent_think_queries_per_step_{prior}_prior"] = round(counting.queries / 4, 1)
    finally:
        loop._log = counting.inner
        loop.think = think
    return figures


def run_until_done(container: Any, session_id: str, message: str) -> tuple[str, list[Any]]:
    """Send `message` as the bench's owner and wait for the run's `done` (it must be `completed`):
    the run's id and its events."""
    run = container.run_service.send_message(OWNER, session_id, message)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        events = [e for e in container.events.read(session_id, 0, None) if e.run_id == run.run_id]
        if events and events[-1].type == "done":
            if events[-1].data["status"] != "completed":
                raise RuntimeError(f"the bench run ended {events[-1].data}")
            return run.run_id, events
        time.sleep(0.05)
    raise RuntimeError("the bench run did not finish")


def _states_entered(settings: Settings, run_id: str) -> dict[str, int]:
    assert settings.state_machine_arn is not None
    sfn = boto3.client("stepfunctions", region_name=settings.aws_region)
    counts: dict[str, int] = {}
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn(settings.state_machine_arn, run_id)
    )
    for page in pages:
        for event in page["events"]:
            if event["type"].endswith("StateEntered"):
                name = event["stateEnteredEventDetails"]["name"]
                counts[name] = counts.get(name, 0) + 1
    return counts

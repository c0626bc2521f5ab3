"""The agent loop's steps, one use case per Step Functions task (statemachines/agent.asl.json).

    StartRun → Parallel(AcquireSandbox, Plan) → Think ⇄ Act (⇢ AskUser, paused) … → Summarize → FinishRun

Each task is stateless: it reads what it needs from the event log (the conversation, the plan) and the
run item (status, wait), does one thing, writes events under fixed append keys (a retried task finds
its events already stored), and returns the `LoopState` counters with where to go next. Every write
is conditional on the run still being open, so once a cancel has moved the run on, a late task writes
nothing and the run's single `done` stays last.

Budgets (steps, tool calls, tokens, wall time) are checked before each model call and end the run
with `done{failed|timed_out, reason: "budget: ..."}`; an execution whose history grows past a
threshold hands over to a continuation execution with the same counters.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from riadex.application import tool_catalog as tc
from riadex.application.agent_model import AgentModel, Plan
from riadex.application.conversation import conversation_from_events, fit_to_budget
from riadex.application.deltas import DeltaBatcher
from riadex.application.llm import (
    ChatMessage,
    ModelError,
    ModelReply,
    ToolCall,
    ToolSpec,
    throttled_stop_check,
)
from riadex.application.loop_state import LoopState
from riadex.application.ports import EventLog, RunEnding, RunRepository, SessionRepository, Workflow
from riadex.application.run_events import RunEvents
from riadex.application.runs import execution_name
from riadex.application.sessions import DEFAULT_TITLE
from riadex.application.tool_runner import SANDBOX_TOOLS, ToolRunner
from riadex.domain.errors import RunNotOpen
from riadex.domain.events import EventType, append_key
from riadex.domain.models import Event, Run, RunStatus, utcnow

STOP_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class LoopLimits:
    """Per-run budgets (RUN_MAX_*) and the execution history threshold for a continuation."""

    max_steps: int = 20
    max_tool_calls: int = 100
    max_tokens: int = 2_000_000
    max_seconds: float = 3600.0
    max_history_events: int = 20_000
    context_tokens: int = 100_000
    ask_timeout_seconds: int = 24 * 3600


@dataclass(frozen=True)
class Budget:
    status: RunStatus
    reason: str


@dataclass(frozen=True)
class LoopPorts:
    """What the loop's tasks use: the stores it reads, the one event writer, the engine, and the ending
    of a run (RunService.finish, shared with the API's cancel and the finalizer)."""

    runs: RunRepository
    sessions: SessionRepository
    log: EventLog
    events: RunEvents
    workflow: Workflow
    ending: RunEnding


class AgentLoop:
    def __init__(
        self,
        ports: LoopPorts,
        model: Callable[[], AgentModel],
        tools: ToolRunner,
        tool_specs: Sequence[ToolSpec],
        limits: LoopLimits,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ports = ports
        self._runs = ports.runs
        self._sessions = ports.sessions
        self._log = ports.log
        self._events = ports.events
        self._workflow = ports.workflow
        self._ending = ports.ending
        self.model = model
        self.tools = tools
        self.tool_specs = tuple(tool_specs)
        self.limits = limits
        self.clock = clock

    # --- plan ------------------------------------------------------------------------------------

    def plan(self, run_id: str) -> LoopState:
        state = LoopState(wait_seconds=self.limits.ask_timeout_seconds)
        run = self._running(run_id)
        if run is None:
            return state.went("end")
        events = self._session_events(run)
        conversation = self._conversation(events)
        plan = self.model().plan(conversation, self.tool_specs, should_stop=self._stop_check(run_id))
        state.add_usage(plan.usage.input_tokens, plan.usage.output_tokens)
        session = self._sessions.get(run.session_id)
        if plan.title and session is not None and session.title == DEFAULT_TITLE:
            self._append(run, EventType.TITLE, {"title": plan.title}, "title")
            self._sessions.rename(run.session_id, plan.title)
        state.steps = len(plan.steps)
        if not plan.steps:  # a plain answer: no plan to show
            return state.went("summarize")
        budget = self._budget(run, state)
        if budget is not None:
            return self._end(run, state, budget)
        self._append(run, EventType.PLAN, _plan_snapshot(plan.steps, 0), "plan/0")
        self._append(run, EventType.STEP, _step(plan.steps, 0, "started"), "step/0/started")
        return state.went("think")

    def acquire_sandbox(self, run_id: str) -> None:
        """Start the session's sandbox while the model plans (a Fargate task takes a minute)."""
        run = self._running(run_id)
        if run is not None:
            self.tools.prepare(run)

    # --- think: one model call on the current step ----------------------------------------------

    def think(self, run_id: str, state: LoopState) -> LoopState:
        run = self._running(run_id)
        if run is None:
            return state.went("end")
        budget = self._budget(run, state)
        if budget is not None:
            return self._end(run, state, budget)
        if state.history >= self.limits.max_history_events:
            return state.went("continue")
        prefix = f"think/{state.step}/{state.iteration}"
        chosen = self._calls_already_chosen(run, prefix)
        if chosen:  # a retried Think (its first attempt died after choosing): act on those calls
            state.iteration += 1
            state.tool_calls += chosen
            return state.went("act")
        events = self._session_events(run)
        plan = _current_plan(events, run_id)
        reply = self._model_call(
            run,
            prefix,
            lambda on_text, stop: self.model().act(
                self._conversation(events),
                plan,
                state.step,
                self.tool_specs,
                on_text=on_text,
                should_stop=stop,
            ),
        )
        if reply is None:
            return state.went("end")
        state.add_usage(reply.usage.input_tokens, reply.usage.output_tokens)
        state.iteration += 1
        if reply.tool_calls:
            if state.tool_calls + len(reply.tool_calls) > self.limits.max_tool_calls:
                limit = self.limits.max_tool_calls
                reason = f"budget: more than {limit} tool calls (RUN_MAX_TOOL_CALLS)"
                return self._end(run, state, Budget(RunStatus.FAILED, reason))
            for index, call in enumerate(reply.tool_calls):
                self._append(run, EventType.TOOL, _calling(call), f"{prefix}/call/{index}")
            state.tool_calls += len(reply.tool_calls)
            return state.went("act")
        return self._step_completed(run, state, plan.steps, events)

    def _calls_already_chosen(self, run: Run, prefix: str) -> int:
        count = 0
        while self._log.find(run.session_id, append_key(run.run_id, f"{prefix}/call/{count}")) is not None:
            count += 1
        return count

    def _step_completed(
        self, run: Run, state: LoopState, steps: Sequence[str], events: Sequence[Event]
    ) -> LoopState:
        """Close the step: `failed` when it called tools and every one of them failed, else `completed`.
        The run goes on either way (the model saw the failure and closed the step)."""
        done = state.step
        failed = _failed_steps(events, run.run_id)
        outcome = "failed" if _only_failed_calls(events, run.run_id, done) else "completed"
        if outcome == "failed":
            failed.add(done)
        self._append(run, EventType.STEP, _step(steps, done, outcome), f"step/{done}/completed")
        state.steps_done += 1
        state.step += 1
        state.iteration = 0
        if state.step >= len(steps):
            snapshot = _plan_snapshot(steps, len(steps), failed)
            self._append(run, EventType.PLAN, snapshot, f"plan/{len(steps)}")
            return state.went("summarize")
        budget = self._budget(run, state)
        if budget is not None:
            return self._end(run, state, budget)
        self._append(run, EventType.PLAN, _plan_snapshot(steps, state.step, failed), f"plan/{state.step}")
        self._append(run, EventType.STEP, _step(steps, state.step, "started"), f"step/{state.step}/started")
        return state.went("think")

    # --- act: run the calls the last think asked for ----------------------------------------------

    def act(self, run_id: str, state: LoopState) -> LoopState:
        run = self._running(run_id)
        if run is None:
            return state.went("end")
        asks = False
        in_sandbox = False
        for call in _open_calls(self._run_events(run), run_id):
            if call.name == tc.MESSAGE_ASK_USER:
                asks = True
                continue
            in_sandbox = in_sandbox or tc.tool_of(call.name) in SANDBOX_TOOLS
            outcome = self.tools.run(run, call)
            data = {**_calling(call), "status": outcome.status, "content": outcome.content}
            data["duration_ms"] = outcome.duration_ms
            try:
                self._events.tool(run, f"tool/{call.id}/result", data)
            except RunNotOpen:
                return state.went("end")  # cancelled while the tool ran: the cancel wrote the done
        if in_sandbox:
            self.tools.checkpoint(run)
        return state.went("ask" if asks else "think")

    # --- ask: pause for the user's answer --------------------------------------------------------

    def ask(self, run_id: str, task_token: str) -> None:
        """Record the question and the task token; the user's next message resumes the execution
        (RunService.send_message → _answer)."""
        run = self._running(run_id)
        if run is None:
            return
        call = next(
            (c for c in _open_calls(self._run_events(run), run_id) if c.name == tc.MESSAGE_ASK_USER), None
        )
        if call is None:
            # Nothing to ask after all: resume at once so the loop goes on.
            self._workflow.resume(task_token, {"answered": None})
            return
        question = str(call.arguments.get("question", ""))
        moved = self._runs.transition(
            run_id,
            {RunStatus.RUNNING},
            RunStatus.WAITING,
            wait={"task_token": task_token, "tool_call_id": call.id, "question": question},
        )
        if moved is None:
            return
        with contextlib.suppress(RunNotOpen):
            self._append(
                moved, EventType.WAIT, {"question": question, "tool_call_id": call.id}, f"wait/{call.id}"
            )
            self._append(moved, EventType.RUN, {"status": RunStatus.WAITING.value}, f"wait/{call.id}/run")

    def wait_expired(self, run_id: str, state: LoopState, timeout_seconds: int | None = None) -> None:
        after = f" within {timeout_seconds} s" if timeout_seconds else " in time"
        self._ending.finish(
            run_id, RunStatus.TIMED_OUT, usage=state.usage(), reason=f"the user did not answer{after}"
        )

    # --- summarize and continue ------------------------------------------------------------------

    def summarize(self, run_id: str, state: LoopState) -> LoopState:
        run = self._running(run_id)
        if run is None:
            return state.went("end")
        events = self._session_events(run)
        plan = _current_plan(events, run_id)
        reply = self._model_call(
            run,
            "summary",
            lambda on_text, stop: self.model().summarize(
                self._conversation(events), plan, self.tool_specs, on_text=on_text, should_stop=stop
            ),
        )
        if reply is None:
            return state.went("end")
        state.add_usage(reply.usage.input_tokens, reply.usage.output_tokens)
        state.next = "finish"
        return state

    def continue_run(self, run_id: str, session_id: str, state: LoopState) -> None:
        """Hand the run over to a fresh execution `<run_id>-<n>` with the same counters."""
        state.continuation += 1
        state.history = 0
        state.next = "think"
        name = execution_name(run_id, state.continuation)
        self._runs.set_execution(run_id, name)
        self._workflow.continue_as(
            run_id, name, {"run_id": run_id, "session_id": session_id, "loop": state.as_dict()}
        )

    # --- shared ------------------------------------------------------------------------------------

    def _running(self, run_id: str) -> Run | None:
        run = self._runs.get(run_id)
        return run if run is not None and run.status is RunStatus.RUNNING else None

    def _session_events(self, run: Run) -> list[Event]:
        return self._log.read(run.session_id, 0, None)

    def _run_events(self, run: Run) -> list[Event]:
        after = (run.first_seq or 1) - 1
        return [e for e in self._log.read(run.session_id, after, None) if e.run_id == run.run_id]

    def _conversation(self, events: Sequence[Event]) -> list[ChatMessage]:
        return fit_to_budget(conversation_from_events(events), self.limits.context_tokens)

    def _stop_check(self, run_id: str) -> Callable[[], bool]:
        def stopped() -> bool:
            run = self._runs.get(run_id)
            return run is None or run.status is not RunStatus.RUNNING

        return throttled_stop_check(stopped, STOP_CHECK_SECONDS)

    def _model_call(
        self,
        run: Run,
        prefix: str,
        call: Callable[[Callable[[str], None], Callable[[], bool]], ModelReply],
    ) -> ModelReply | None:
        """One streamed model call: deltas batched into events, the text stored as an assistant
        message. None when a cancel stopped it (the cancel writes the done)."""
        message_id = f"msg_{uuid.uuid4().hex}"
        batches = [0]

        def emit(text: str) -> None:
            batches[0] += 1
            with contextlib.suppress(RunNotOpen):
                self._append(
                    run,
                    EventType.DELTA,
                    {"message_id": message_id, "text": text},
                    f"{prefix}/delta/{batches[0]}",
                )

        batcher = DeltaBatcher(emit)
        try:
            reply = call(batcher, self._stop_check(run.run_id))
        except ModelError as exc:
            if exc.kind == "cancelled":
                return None
            raise
        batcher.flush()
        if reply.text.strip():
            data = {"role": "assistant", "content": reply.text, "message_id": message_id}
            try:
                self._append(run, EventType.MESSAGE, data, f"{prefix}/message")
            except RunNotOpen:
                return None
        return reply

    def _budget(self, run: Run, state: LoopState) -> Budget | None:
        limits = self.limits
        tokens = state.input_tokens + state.output_tokens
        if tokens > limits.max_tokens:
            return Budget(
                RunStatus.FAILED,
                f"budget: {tokens} tokens used, more than {limits.max_tokens} (RUN_MAX_TOKENS)",
            )
        if state.step >= limits.max_steps and state.step < state.steps:
            return Budget(
                RunStatus.FAILED, f"budget: the plan needs more than {limits.max_steps} steps (RUN_MAX_STEPS)"
            )
        if (
            run.started_at is not None
            and (self.clock() - run.started_at).total_seconds() > limits.max_seconds
        ):
            return Budget(
                RunStatus.TIMED_OUT, f"budget: ran longer than {limits.max_seconds:g} s (RUN_MAX_SECONDS)"
            )
        return None

    def _end(self, run: Run, state: LoopState, budget: Budget) -> LoopState:
        if budget.status is RunStatus.FAILED:
            with contextlib.suppress(RunNotOpen):
                data = {"code": "budget_exceeded", "message": budget.reason, "retryable": False}
                self._append(run, EventType.ERROR, data, "budget")
        self._ending.finish(run.run_id, budget.status, usage=state.usage(), reason=budget.reason)
        return state.went("end")

    def _append(self, run: Run, type: EventType, data: dict[str, Any], name: str) -> Event:
        return self._events.append(run, type, data, name)


def _calling(call: ToolCall) -> dict[str, Any]:
    return {
        "tool_call_id": call.id,
        "name": tc.tool_of(call.name),
        "function": call.name,
        "args": call.arguments,
        "status": "calling",
    }


def _open_calls(events: Sequence[Event], run_id: str) -> list[ToolCall]:
    """The run's `calling` tool events with no `called`/`failed` result yet, in order."""
    calls: dict[str, ToolCall] = {}
    for event in events:
        if event.type != EventType.TOOL.value or event.run_id != run_id:
            continue
        call_id = str(event.data.get("tool_call_id", ""))
        if event.data.get("status") == "calling":
            args = event.data.get("args")
            calls[call_id] = ToolCall(
                call_id, str(event.data.get("function", "")), args if isinstance(args, dict) else {}
            )
        else:
            calls.pop(call_id, None)
    return list(calls.values())


def _current_plan(events: Sequence[Event], run_id: str) -> Plan:
    steps: tuple[str, ...] = ()
    for event in events:
        if event.type == EventType.PLAN.value and event.run_id == run_id:
            steps = tuple(str(s.get("description", "")) for s in event.data.get("steps", []))
    return Plan(title="", steps=steps)


def _failed_steps(events: Sequence[Event], run_id: str) -> set[int]:
    """The indexes of the run's steps that ended `failed`."""
    return {
        int(e.data.get("id", 0)) - 1
        for e in events
        if e.type == EventType.STEP.value and e.run_id == run_id and e.data.get("status") == "failed"
    }


def _only_failed_calls(events: Sequence[Event], run_id: str, index: int) -> bool:
    """Whether the step made tool calls and all of them failed (read since the step started)."""
    results: list[str] = []
    for event in events:
        if event.run_id != run_id:
            continue
        if event.type == EventType.STEP.value and event.data.get("id") == str(index + 1):
            if event.data.get("status") == "started":
                results = []
        elif event.type == EventType.TOOL.value and event.data.get("status") in {"called", "failed"}:
            results.append(str(event.data.get("status")))
    return bool(results) and all(status == "failed" for status in results)


def _plan_snapshot(steps: Sequence[str], current: int, failed: Collection[int] = ()) -> dict[str, Any]:
    def status(index: int) -> str:
        if index in failed:
            return "failed"
        if index < current:
            return "completed"
        return "running" if index == current else "pending"

    return {"steps": [{"id": str(i + 1), "description": d, "status": status(i)} for i, d in enumerate(steps)]}


def _step(steps: Sequence[str], index: int, status: str) -> dict[str, Any]:
    return {"id": str(index + 1), "description": steps[index], "status": status}

"""The agent loop's steps, one use case per Step Functions task (statemachines/agent.asl.json).

    StartRun → Plan → (⇢ StartSandbox, not waited for) → Think ⟲ (⇢ Act for what is left, ⇢ AskUser,
             paused) … → Summarize → FinishRun

A run starts a sandbox only when a tool needs one: a plan whose steps may call a sandbox tool (shell,
file, browser) starts it without waiting (StartSandbox invokes AcquireSandbox asynchronously), so it
comes up while the first step thinks; any other run starts one at its first sandbox tool call, if any.

A takeover (riadex.application.takeovers) is noticed where Think reads the run anyway, at the start
of a step: the run goes to AskUser and waits there, with `wait{"reason": "takeover"}`, until the user
resumes.

Think is one step in one task: it calls the model, runs the tools it asks for right there, calls the
model again, and so on until the step is done (then the next Think starts the next step). Only what
cannot or should not run inline leaves the task: a question to the user (AskUser pauses the execution),
and tool calls left when the task has run tools for `inline_tool_seconds` (Act runs them in a fresh
invocation). So a step costs two state transitions (Think, Route) however many tools it calls.

Each task is stateless: it loads the run's conversation snapshot (RunConversation: a cursor and the
conversation folded so far), reads only the events after the cursor, folds every event it writes as it
writes it, and saves the snapshot — a step's reads do not grow with the session's history. Events go
under fixed append keys (a retried task finds its events already stored) and every write is
conditional on the run still being open, so once a cancel has moved the run on, a late task writes
nothing and the run's single `done` stays last.

Budgets (steps, tool calls, tokens, wall time) are checked before each model call and end the run
with `done{failed|timed_out, reason: "budget: ..."}`; an execution whose history grows past a
threshold hands over to a continuation execution with the same counters.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from riadex.application import tool_catalog as tc
from riadex.application.agent_model import AgentModel, Plan
from riadex.application.conversation import RunConversation, fit_to_budget
from riadex.application.deltas import DeltaBatcher
from riadex.application.llm import (
    ChatMessage,
    ModelError,
    ModelReply,
    Recovery,
    ToolCall,
    ToolSpec,
    throttled_stop_check,
)
from riadex.application.loop_state import LoopState, Next
from riadex.application.ports import (
    ConversationStore,
    EventLog,
    RunEnding,
    RunRepository,
    SessionRepository,
    Workflow,
)
from riadex.application.run_events import RunEvent, RunEvents
from riadex.application.runs import execution_name
from riadex.application.sessions import DEFAULT_TITLE
from riadex.application.takeovers import write_pause, write_started
from riadex.application.tool_runner import SANDBOX_TOOLS, ToolRunner
from riadex.domain.errors import RunNotOpen
from riadex.domain.events import EventType, append_key
from riadex.domain.models import Event, Run, RunStatus, Session, utcnow
from riadex.domain.sandboxes import SandboxStatus

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
    inline_tool_seconds: float = 60.0
    """How long a Think runs tools itself; calls left after that go to Act (a fresh invocation)."""


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
    conversations: ConversationStore


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
        self._conversations = ports.conversations
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
        convo = self._load(run)
        plan = self.model().plan(
            self._conversation(convo), self.tool_specs, should_stop=self._stop_check(run_id)
        )
        state.add_usage(plan.usage.input_tokens, plan.usage.output_tokens)
        self._recovered(run, convo, "plan", plan.recovered)
        session = self._sessions.get(run.session_id)
        if plan.title and session is not None and session.title == DEFAULT_TITLE:
            self._write(run, convo, EventType.TITLE, {"title": plan.title}, "title")
            self._sessions.rename(run.session_id, plan.title)
        state.steps = len(plan.steps)
        convo.plan = tuple(plan.steps)
        if not plan.steps:  # a plain answer: no plan to show
            return self._save(run, convo, state.went("summarize"))
        budget = self._budget(run, state)
        if budget is not None:
            return self._end(run, state, budget)
        self._write_many(
            run,
            convo,
            [
                (EventType.PLAN, _plan_snapshot(plan.steps, 0), "plan/0"),
                (EventType.STEP, _step(plan.steps, 0, "started"), "step/0/started"),
            ],
        )
        return self._save(run, convo, state.went("sandbox" if _head_start(plan, session) else "think"))

    def acquire_sandbox(self, run_id: str) -> None:
        """Start the session's sandbox while the first step thinks (a Fargate task takes a minute): the
        state machine invokes this without waiting for it when the plan says `sandbox`. The step's
        first sandbox call waits for this one's sandbox instead of starting another (Sandboxes.ensure)."""
        run = self._running(run_id)
        if run is not None:
            self.tools.prepare(run)

    # --- think: the current step, model calls and the tools they ask for ---------------------------

    def think(self, run_id: str, state: LoopState) -> LoopState:
        run = self._running(run_id)
        if run is None:
            return state.went("end")
        if run.takeover_id:  # the user took the sandbox over: pause at this step boundary (AskUser)
            return state.went("ask")
        if state.history >= self.limits.max_history_events:
            return state.went("continue")
        convo = self._load(run)
        plan = Plan(title="", steps=convo.plan)
        started = time.monotonic()
        stop = self._stop_check(run_id)  # one for the task: its reads are spaced across model calls
        retried = True  # until shown otherwise: a first attempt may have died after choosing calls
        while True:
            budget = self._budget(run, state)
            if budget is not None:
                return self._end(run, state, budget)
            prefix = f"think/{state.step}/{state.iteration}"
            chosen = self._calls_already_chosen(run, prefix) if retried else 0
            if chosen:  # a retried Think: act on the calls its first attempt chose, no new model call
                state.iteration += 1
                state.tool_calls += chosen
            elif retried and state.step in convo.closed_steps:  # ...or it had closed the step too
                return self._save(run, convo, self._step_completed(run, convo, state, plan.steps))
            else:
                retried = False
                messages = self._conversation(convo)
                reply = self._model_call(
                    run,
                    convo,
                    prefix,
                    lambda on_text, stop, messages=messages: self.model().act(  # type: ignore[misc]
                        messages, plan, state.step, self.tool_specs, on_text=on_text, should_stop=stop
                    ),
                    stop,
                )
                if reply is None:
                    return self._save(run, convo, state.went("end"))
                state.add_usage(reply.usage.input_tokens, reply.usage.output_tokens)
                state.iteration += 1
                if not reply.tool_calls:
                    return self._save(run, convo, self._step_completed(run, convo, state, plan.steps))
                if state.tool_calls + len(reply.tool_calls) > self.limits.max_tool_calls:
                    limit = self.limits.max_tool_calls
                    reason = f"budget: more than {limit} tool calls (RUN_MAX_TOOL_CALLS)"
                    return self._end(run, state, Budget(RunStatus.FAILED, reason))
                for index, call in enumerate(reply.tool_calls):
                    self._write(run, convo, EventType.TOOL, _calling(call), f"{prefix}/call/{index}")
                state.tool_calls += len(reply.tool_calls)
            after = self._run_calls(run, convo, started)
            if after != "think" or time.monotonic() - started >= self.limits.inline_tool_seconds:
                return self._save(run, convo, state.went(after))

    def _calls_already_chosen(self, run: Run, prefix: str) -> int:
        count = 0
        while self._log.find(run.session_id, append_key(run.run_id, f"{prefix}/call/{count}")) is not None:
            count += 1
        return count

    def _step_completed(
        self, run: Run, convo: RunConversation, state: LoopState, steps: Sequence[str]
    ) -> LoopState:
        """Close the step: `failed` when it called tools and every one of them failed, else `completed`.
        The run goes on either way (the model saw the failure and closed the step)."""
        done = state.step
        results = convo.step_results
        outcome = "failed" if results and all(r == "failed" for r in results) else "completed"
        completed = (EventType.STEP, _step(steps, done, outcome), f"step/{done}/completed")
        failed = convo.failed_steps | ({done} if outcome == "failed" else set())
        state.steps_done += 1
        state.step += 1
        state.iteration = 0
        if state.step >= len(steps):
            snapshot = _plan_snapshot(steps, len(steps), failed)
            self._write_many(run, convo, [completed, (EventType.PLAN, snapshot, f"plan/{len(steps)}")])
            return state.went("summarize")
        budget = self._budget(run, state)
        if budget is not None:
            self._write(run, convo, *completed)
            return self._end(run, state, budget)
        # The step's end, the plan and the next step's start: one write (docs/architecture.md).
        self._write_many(
            run,
            convo,
            [
                completed,
                (EventType.PLAN, _plan_snapshot(steps, state.step, failed), f"plan/{state.step}"),
                (EventType.STEP, _step(steps, state.step, "started"), f"step/{state.step}/started"),
            ],
        )
        return state.went("think")

    def _run_calls(self, run: Run, convo: RunConversation, started: float | None) -> Next:
        """Run the latest turn's calls that have no result yet: `think` when all are answered, `ask`
        when the user must answer one, `act` when the rest is left for a fresh invocation (this one has
        run tools long enough; Act, `started` None, runs them all), `end` when a cancel came meanwhile."""
        asks, in_sandbox = False, False
        after: Next = "think"
        for call in convo.pending_calls():
            if call.name == tc.MESSAGE_ASK_USER:
                asks = True
                continue
            if started is not None and time.monotonic() - started >= self.limits.inline_tool_seconds:
                after = "act"
                break
            in_sandbox = in_sandbox or tc.tool_of(call.name) in SANDBOX_TOOLS
            outcome = self.tools.run(run, call)
            data = {**_calling(call), "status": outcome.status, "content": outcome.content}
            data["duration_ms"] = outcome.duration_ms
            try:
                convo.fold(self._events.tool(run, f"tool/{call.id}/result", data))
            except RunNotOpen:
                return "end"  # cancelled while the tool ran: the cancel wrote the done
        if in_sandbox:
            self.tools.checkpoint(run)  # the workspace outlives its sandbox
        if after == "act":
            return after
        return "ask" if asks else "think"

    # --- act: the calls a Think left --------------------------------------------------------------

    def act(self, run_id: str, state: LoopState) -> LoopState:
        run = self._running(run_id)
        if run is None:
            return state.went("end")
        convo = self._load(run)
        return self._save(run, convo, state.went(self._run_calls(run, convo, None)))

    # --- ask: pause for the user's answer --------------------------------------------------------

    def ask(self, run_id: str, task_token: str) -> None:
        """Record the question and the task token; the user's next message resumes the execution
        (RunService.send_message → _answer)."""
        run = self._running(run_id)
        if run is None:
            self._stopped_while_asking(run_id, task_token)
            return
        convo = self._load(run)
        call = next((c for c in convo.pending_calls() if c.name == tc.MESSAGE_ASK_USER), None)
        if call is None:
            if run.takeover_id:
                self._pause_for_takeover(run, convo, run.takeover_id, task_token)
                return
            # Nothing to ask after all: resume at once so the loop goes on.
            self._workflow.resume(task_token, {"answered": None})
            return
        question = str(call.arguments.get("question", ""))
        moved = self._runs.transition(
            run_id,
            {RunStatus.RUNNING},
            RunStatus.WAITING,
            wait={"task_token": task_token, "reason": "ask", "tool_call_id": call.id, "question": question},
        )
        if moved is None:
            self._stopped_while_asking(run_id, task_token)
            return
        with contextlib.suppress(RunNotOpen):
            data = {"question": question, "tool_call_id": call.id, "reason": "ask"}
            self._write(moved, convo, EventType.WAIT, data, f"wait/{call.id}")
            self._write(
                moved, convo, EventType.RUN, {"status": RunStatus.WAITING.value}, f"wait/{call.id}/run"
            )
        self._conversations.save(run_id, convo.to_dict())

    def _stopped_while_asking(self, run_id: str, task_token: str) -> None:
        """A cancel came before the question was recorded: end the run and let the paused execution
        go on to its end (Think finds the run ended) instead of waiting for an answer that never comes."""
        self.stopped(run_id, LoopState())
        self._workflow.resume(task_token, {"answered": None})

    def _pause_for_takeover(
        self, run: Run, convo: RunConversation, takeover_id: str, task_token: str
    ) -> None:
        """Wait on the task token until the user resumes (docs/api.md, "Take over"). When they already
        have (or a cancel came first), the execution goes on at once (Think decides what is next)."""
        wait = {"task_token": task_token, "reason": "takeover", "takeover_id": takeover_id}
        moved = self._runs.pause_for_takeover(run.run_id, takeover_id, wait)
        if moved is None:
            self._stopped_while_asking(run.run_id, task_token)
            return
        with contextlib.suppress(RunNotOpen):
            write_started(self._log, run.session_id, takeover_id)
            for event in write_pause(self._events, moved, takeover_id):
                convo.fold(event)
        self._conversations.save(run.run_id, convo.to_dict())

    def wait_expired(self, run_id: str, state: LoopState, timeout_seconds: int | None = None) -> None:
        run = self._runs.get(run_id)
        after = f" within {timeout_seconds} s" if timeout_seconds else " in time"
        paused_for = ((run.wait if run is not None else None) or {}).get("reason")
        what = "hand the sandbox back" if paused_for == "takeover" else "answer"
        self._ending.finish(
            run_id, RunStatus.TIMED_OUT, usage=state.usage(), reason=f"the user did not {what}{after}"
        )

    # --- summarize and continue ------------------------------------------------------------------

    def summarize(self, run_id: str, state: LoopState) -> LoopState:
        run = self._running(run_id)
        if run is None:
            return state.went("end")
        convo = self._load(run)
        plan = Plan(title="", steps=convo.plan)
        messages = self._conversation(convo)
        reply = self._model_call(
            run,
            convo,
            "summary",
            lambda on_text, stop: self.model().summarize(
                messages, plan, self.tool_specs, on_text=on_text, should_stop=stop
            ),
            self._stop_check(run_id),
        )
        if reply is None:
            return state.went("end")
        state.add_usage(reply.usage.input_tokens, reply.usage.output_tokens)
        if not reply.text.strip():
            # Never `completed` without a reply: the model had its second chance (LLMAgentModel).
            message = "the model gave no final answer (its reply was empty, twice)"
            self._ending.fail(run_id, "empty_reply", message, usage=state.usage())
            return state.went("end")
        state.next = "finish"
        return self._save(run, convo, state)

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

    # --- the run's conversation --------------------------------------------------------------------

    def _load(self, run: Run) -> RunConversation:
        """The run's snapshot (or, for a new run, the previous run's) brought up to date: one read of
        the events after its cursor."""
        raw = self._conversations.load(run.run_id)
        if raw is not None:
            convo = RunConversation.of(raw)
            convo.run_id = run.run_id
        else:
            convo = self._previous_snapshot(run).new_run(run.run_id)
        for event in self._log.read(run.session_id, convo.cursor, None):
            convo.fold(event)
        return convo

    def _previous_snapshot(self, run: Run) -> RunConversation:
        earlier = [
            r
            for r in self._runs.list_for_session(run.session_id)
            if r.run_id != run.run_id and r.created_at <= run.created_at
        ]
        for previous in sorted(earlier, key=lambda r: r.created_at, reverse=True):
            raw = self._conversations.load(previous.run_id)
            if raw is not None:
                return RunConversation.of(raw)
        return RunConversation()

    def _save(self, run: Run, convo: RunConversation, state: LoopState) -> LoopState:
        self._conversations.save(run.run_id, convo.to_dict())
        return state

    def _recovered(self, run: Run, convo: RunConversation, prefix: str, notes: Sequence[Recovery]) -> None:
        """What the model did wrong and was worked around, as `error` events the run goes on after."""
        for index, note in enumerate(notes):
            data = {"code": note.code, "message": note.message, "retryable": True}
            self._write(run, convo, EventType.ERROR, data, f"{prefix}/recovered/{index}")

    def _write(
        self, run: Run, convo: RunConversation, type: EventType, data: dict[str, Any], name: str
    ) -> Event:
        event = self._events.append(run, type, data, name)
        convo.fold(event)
        return event

    def _write_many(self, run: Run, convo: RunConversation, entries: list[RunEvent]) -> None:
        for event in self._events.append_many(run, entries):
            convo.fold(event)

    # --- shared ------------------------------------------------------------------------------------

    def stopped(self, run_id: str, state: LoopState) -> None:
        """The execution ends here (`end`): a budget or a failure ended the run, or the run is no longer
        running. A run a cancel left `cancelling` is ended `cancelled` now (docs/api.md, "Cancel"): its
        canceller stops the execution and ends it too, but the execution may reach its end first, and a
        canceller that dies between `cancelling` and its stop must not leave the run open (and the
        session busy) with no execution left to end it. `finish` is idempotent: one `done` either way."""
        run = self._runs.get(run_id)
        if run is not None and run.status is RunStatus.CANCELLING:
            self._ending.finish(run_id, RunStatus.CANCELLED, usage=state.usage())

    def _running(self, run_id: str) -> Run | None:
        run = self._runs.get(run_id)
        return run if run is not None and run.status is RunStatus.RUNNING else None

    def _conversation(self, convo: RunConversation) -> list[ChatMessage]:
        return fit_to_budget(convo.messages(), self.limits.context_tokens)

    def _stop_check(self, run_id: str) -> Callable[[], bool]:
        """Whether a cancel (or anything else) moved the run on: its status read at most every
        STOP_CHECK_SECONDS in a task, the task's own read of the run (`_running`) counting as the first."""

        def stopped() -> bool:
            run = self._runs.get(run_id)
            return run is None or run.status is not RunStatus.RUNNING

        return throttled_stop_check(stopped, STOP_CHECK_SECONDS, just_checked=True)

    def _model_call(
        self,
        run: Run,
        convo: RunConversation,
        prefix: str,
        call: Callable[[Callable[[str], None], Callable[[], bool]], ModelReply],
        stop: Callable[[], bool],
    ) -> ModelReply | None:
        """One streamed model call: deltas batched into events, the text stored as an assistant
        message. None when a cancel stopped it (the cancel writes the done)."""
        message_id = f"msg_{uuid.uuid4().hex}"
        batches = [0]

        def emit(text: str) -> None:
            batches[0] += 1
            with contextlib.suppress(RunNotOpen):
                data = {"message_id": message_id, "text": text}
                self._write(run, convo, EventType.DELTA, data, f"{prefix}/delta/{batches[0]}")

        batcher = DeltaBatcher(emit)
        try:
            reply = call(batcher, stop)
        except ModelError as exc:
            if exc.kind == "cancelled":
                return None
            raise
        batcher.flush()
        self._recovered(run, convo, prefix, reply.recovered)
        if reply.text.strip():
            data = {"role": "assistant", "content": reply.text, "message_id": message_id}
            try:
                self._write(run, convo, EventType.MESSAGE, data, f"{prefix}/message")
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


def _head_start(plan: Plan, session: Session | None) -> bool:
    """Whether to start the session's sandbox while the first step thinks: the plan may call a sandbox
    tool (or its model did not say which tools it will call) and the session has no sandbox up."""
    may_use = plan.tools is None or not plan.tools.isdisjoint(SANDBOX_TOOLS)
    sandbox = session.sandbox if session is not None else None
    ready = sandbox is not None and sandbox.status == SandboxStatus.READY.value
    return may_use and not ready


def _calling(call: ToolCall) -> dict[str, Any]:
    return {
        "tool_call_id": call.id,
        "name": tc.tool_of(call.name),
        "function": call.name,
        "args": call.arguments,
        "status": "calling",
    }


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

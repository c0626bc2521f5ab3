"""The agent loop's Lambda tasks: Plan, AcquireSandbox, Think, Act, AskUser, Summarize, ContinueRun,
WaitExpired (statemachines/agent.asl.json).

Each takes the state's payload (`run_id`, `session_id`, `loop`: the LoopState counters) and returns it
with `loop` updated; the ASL keeps only the Lambda's Payload (OutputPath). Errors are named for the
state machine: `TransientError` (a rate-limited or overloaded model, a sandbox that went away, a
DynamoDB hiccup) is retried with backoff; `ModelFailed` and anything else go to the Catch, which
fails the run with the message (it says what to fix).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from riadex.application.agent_loop import AgentLoop
from riadex.application.llm import ModelError
from riadex.application.loop_state import LoopState
from riadex.domain.errors import DomainError, RunNotOpen
from riadex.entrypoints.tasks.handlers import Handler, TransientError


class ModelFailed(Exception):
    """The model call failed for good (bad key, invalid request, `!fail`): not retried."""


@contextmanager
def _named_errors() -> Iterator[None]:
    try:
        yield
    except RunNotOpen:
        raise
    except ModelError as exc:
        if exc.retryable:
            raise TransientError(f"the model provider is unavailable: {exc.message}") from exc
        raise ModelFailed(exc.message) from exc
    except DomainError as exc:
        if exc.retryable:
            raise TransientError(exc.message) from exc
        raise


def _ended(agent: AgentLoop, event: dict[str, Any]) -> dict[str, Any]:
    """A write found the run no longer open (a cancel won the race): the execution ends."""
    return _state(agent, event, LoopState.of(event.get("loop")).went("end"))


def _state(agent: AgentLoop, event: dict[str, Any], loop: LoopState) -> dict[str, Any]:
    if loop.next == "end":  # the execution ends: a run a cancel left cancelling ends with it
        with _named_errors():
            agent.stopped(event["run_id"], loop)
    return {"run_id": event["run_id"], "session_id": event.get("session_id"), "loop": loop.as_dict()}


def make_agent_handlers(loop: Callable[[], AgentLoop]) -> dict[str, Handler]:
    def plan(event: dict[str, Any], _: Any) -> dict[str, Any]:
        try:
            with _named_errors():
                return _state(loop(), event, loop().plan(event["run_id"]))
        except RunNotOpen:
            return _ended(loop(), event)

    def acquire_sandbox(event: dict[str, Any], _: Any) -> dict[str, Any]:
        try:
            with _named_errors():
                loop().acquire_sandbox(event["run_id"])
        except RunNotOpen:
            return {"acquired": False}
        return {"acquired": True}

    def think(event: dict[str, Any], _: Any) -> dict[str, Any]:
        try:
            with _named_errors():
                return _state(loop(), event, loop().think(event["run_id"], LoopState.of(event.get("loop"))))
        except RunNotOpen:
            return _ended(loop(), event)

    def act(event: dict[str, Any], _: Any) -> dict[str, Any]:
        try:
            with _named_errors():
                return _state(loop(), event, loop().act(event["run_id"], LoopState.of(event.get("loop"))))
        except RunNotOpen:
            return _ended(loop(), event)

    def ask_user(event: dict[str, Any], _: Any) -> dict[str, Any]:
        try:
            with _named_errors():
                loop().ask(event["run_id"], str(event["task_token"]))
        except RunNotOpen:
            pass  # cancelled: the cancel stopped the execution and wrote the done
        return {"asked": True}

    def summarize(event: dict[str, Any], _: Any) -> dict[str, Any]:
        try:
            with _named_errors():
                return _state(
                    loop(), event, loop().summarize(event["run_id"], LoopState.of(event.get("loop")))
                )
        except RunNotOpen:
            return _ended(loop(), event)

    def continue_run(event: dict[str, Any], _: Any) -> dict[str, Any]:
        with _named_errors():
            loop().continue_run(
                event["run_id"], str(event.get("session_id")), LoopState.of(event.get("loop"))
            )
        return {"continued": True}

    def wait_expired(event: dict[str, Any], _: Any) -> dict[str, Any]:
        state = LoopState.of(event.get("loop"))
        with _named_errors():
            loop().wait_expired(event["run_id"], state, state.wait_seconds)
        return {"timed_out": True}

    return {
        "plan": plan,
        "acquire-sandbox": acquire_sandbox,
        "think": think,
        "act": act,
        "ask-user": ask_user,
        "summarize": summarize,
        "continue-run": continue_run,
        "wait-expired": wait_expired,
    }


def agent_lambda_handler(name: str) -> Handler:
    """A Lambda entry for one loop task: the container is built on the first invocation, then reused."""
    from riadex.bootstrap import bootstrap

    built: list[AgentLoop] = []

    def agent_loop() -> AgentLoop:
        if not built:
            built.append(bootstrap().agent_loop())
        return built[0]

    from riadex.entrypoints.observability import instrument

    return instrument(name, make_agent_handlers(agent_loop)[name])

"""The loop against a real SDK talking to a local OpenAI-compatible server that keeps failing or streams
slowly, and a run long enough to continue in a second execution."""

from __future__ import annotations

from typing import Any

from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import (
    check_invariants,
    new_session,
    new_user,
    send,
    wait_for_done,
    wait_until,
    without_sandbox,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Failure, Item, Reply, ScriptedToolCall
from tests.support.settle import settle


def test_a_provider_that_keeps_failing_is_retried_then_the_run_fails(agent_stack: AgentFactory) -> None:
    def overloaded(body: dict[str, Any]) -> Item:
        return Failure(529, "Overloaded", error_type="overloaded_error")

    with FakeOpenAI(responder=overloaded) as fake:
        container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url)
        auth = new_user(client)
        sid = new_session(client, auth)
        run_id = send(client, auth, sid, "write me a poem")["run_id"]
        mine = check_invariants(wait_for_done(container, sid, run_id, timeout=60), run_id)
        attempts = len(fake.script.requests)
    assert attempts == 4  # the first call and the state machine's three retries, with backoff
    error = next(e for e in mine if e.type == "error")
    assert error.data["code"] == "retries_exhausted"
    assert error.data["retryable"] is True
    assert "try again later" in error.data["message"]
    assert mine[-1].data["status"] == "failed"
    assert [t for t, _ in without_sandbox(mine)][-3:] == ["error", "run", "done"]


def test_cancel_closes_the_in_flight_model_stream(agent_stack: AgentFactory) -> None:
    def slow(body: dict[str, Any]) -> Item:
        if isinstance(body.get("tool_choice"), dict):  # the plan: no steps, just answer
            return Reply(tool_calls=[ScriptedToolCall("submit_plan", {"title": "Slow", "steps": []})])
        return Reply(text="word " * 400, text_chunk=5, delay=0.05)  # about 20 s of stream

    with FakeOpenAI(responder=slow) as fake:
        container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url)
        auth = new_user(client)
        sid = new_session(client, auth)
        run_id = send(client, auth, sid, "talk slowly")["run_id"]
        wait_until(container, sid, lambda es: any(e.type == "delta" for e in es))
        client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
        mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
        assert fake.script.aborted.wait(10), "the model stream was not closed"
    assert mine[-1].data["status"] == "cancelled"
    assert not any(e.type == "message" and e.data["role"] == "assistant" for e in mine)


def test_a_long_run_continues_in_new_executions_with_its_counters(agent_stack: AgentFactory) -> None:
    container, client = agent_stack(run_max_history_events=5)
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!shell echo one\n!shell echo two")["run_id"]
    mine = check_invariants(wait_for_done(container, sid, run_id, timeout=60), run_id)
    assert mine[-1].data["status"] == "completed"
    assert mine[-1].data["usage"]["tool_calls"] == 2
    assert mine[-1].data["usage"]["steps"] == 2
    run = container.runs.get(run_id)
    assert run is not None
    assert run.execution is not None
    assert run.execution.startswith(f"{run_id}-")
    continuations = int(run.execution.rsplit("-", 1)[1])
    assert continuations >= 2
    # wait_for_done waited for every execution's end: each handed over, none died.
    names = [run_id] + [f"{run_id}-{n}" for n in range(1, continuations + 1)]
    statuses = settle(container.settings.state_machine_arn, run_id)
    assert statuses == dict.fromkeys(names, "SUCCEEDED")
    assert [e.type for e in container.events.read(sid, 0, None)].count("done") == 1

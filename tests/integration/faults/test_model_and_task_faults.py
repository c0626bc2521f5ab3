"""Faults injected for real on the deployed loop: a task's process dying after it wrote its events
(Lambda's Runtime.ExitError, which the state machine retries), and a model provider misbehaving in
the ways real ones do, served by a local OpenAI-compatible server to the real openai SDK. Each test
packs several faults into one run (the suite's time budget), and ends with the common checks."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from riadex.entrypoints.local.lambda_invoke import LambdaInvokeServer, RuntimeExited
from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import new_session, new_user, send
from tests.integration.faults.common import ended, takes_the_next_message
from tests.support.agent_responders import write_then_read
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Failure, Item, Reply, Responder, ScriptedToolCall

TEXT = "fault-free"


def _is_act(body: dict[str, Any]) -> bool:
    return body.get("tool_choice") != "none" and not isinstance(body.get("tool_choice"), dict)


def _every_other(
    inner: Responder, faults: list[Item], when: Callable[[dict[str, Any]], bool] = lambda _: True
) -> Responder:
    """`inner`, except that every other call matching `when` (the first, the third, ...) gets the next
    of `faults` while any are left: each fault is followed by a good answer, so each retry succeeds."""
    pending = list(faults)
    seen = [0]
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> Item:
        with lock:
            if when(body):
                seen[0] += 1
                if pending and seen[0] % 2 == 1:
                    return pending.pop(0)
        return inner(body)

    return respond


def _run(
    agent_stack: AgentFactory, fake: FakeOpenAI, **overrides: Any
) -> tuple[Any, Any, dict[str, str], str, str]:
    container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url, **overrides)
    auth = new_user(client)
    sid = new_session(client, auth)
    return container, client, auth, sid, send(client, auth, sid, "write then read")["run_id"]


def _calls(mine: list[Any]) -> list[str]:
    return [e.data["function"] for e in mine if e.type == "tool" and e.data["status"] == "called"]


def test_transient_model_faults_are_retried_and_the_run_completes(agent_stack: AgentFactory) -> None:
    faults: list[Item] = [
        Failure(429, "Rate limit reached", "requests", "rate_limit_exceeded", {"Retry-After": "0"}),
        Failure(500, "The server had an error", "server_error"),
        Failure(529, "Overloaded", "overloaded_error"),
        Reply(text="half an answer that stops", text_chunk=4, error_after=3),  # an error mid-stream
        Reply(text="a stalled stream", text_chunk=4, delay=3.0),  # silent past the 1 s timeout
        Failure(429, "Rate limit reached", "requests", "rate_limit_exceeded", {"Retry-After": "1"}),
    ]
    with FakeOpenAI(responder=_every_other(write_then_read("a.txt", TEXT), faults)) as fake:
        container, client, auth, sid, run_id = _run(agent_stack, fake, llm_timeout_seconds=1)
        mine = ended(container, sid, run_id, "completed")
        assert len(fake.script.requests) == 6 + len(faults)  # every fault cost exactly one retry
        takes_the_next_message(container, client, auth, sid)
    assert _calls(mine) == ["file_write", "file_read"]
    summary = [e for e in mine if e.type == "message" and e.data["role"] == "assistant"][-1]
    assert TEXT in summary.data["content"]
    assert not any(e.type == "error" for e in mine)


def test_bad_model_answers_are_reported_to_it_and_the_run_ends_with_one_done(
    agent_stack: AgentFactory,
) -> None:
    bad: list[Item] = [
        Reply(tool_calls=[ScriptedToolCall("file_write", '{"file": "a.txt", "content": ')]),  # malformed JSON
        Reply(tool_calls=[ScriptedToolCall("teleport", {"to": "mars"})]),  # a tool that does not exist
    ]
    inner = _every_other(write_then_read("a.txt", TEXT), bad, _is_act)

    empty = [2]

    def respond(body: dict[str, Any]) -> Item:
        if body.get("tool_choice") == "none" and empty[0] > 0:
            empty[0] -= 1
            return Reply(text="")  # an empty final answer, asked for twice
        return inner(body)

    with FakeOpenAI(responder=respond) as fake:
        container, client, auth, sid, run_id = _run(agent_stack, fake)
        mine = ended(container, sid, run_id, "failed")  # never `completed` without a reply
        takes_the_next_message(container, client, auth, sid)
    errors = [e.data["code"] for e in mine if e.type == "error"]
    assert errors == ["empty_reply", "empty_reply"]  # asked again (retryable), then the run failed
    failed = [e.data for e in mine if e.type == "tool" and e.data["status"] == "failed"]
    assert [f["function"] for f in failed] == ["file_write", "teleport"], failed
    assert all(f["content"] for f in failed)  # the model was told what went wrong
    assert _calls(mine) == []


def test_tasks_killed_after_writing_their_events_are_retried_without_duplicating_any(
    agent_stack: AgentFactory, lambda_server: LambdaInvokeServer
) -> None:
    with FakeOpenAI(responder=write_then_read("a.txt", TEXT)) as fake:
        container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url)
        arn = container.settings.state_machine_arn
        assert arn is not None
        killed: list[str] = []
        for task in ("plan", "think"):  # a step's tools run inside its Think: no Act here
            name = f"{arn.rsplit(':', 1)[1]}-{task}"
            real = lambda_server.handlers[name]

            def dies_once(event: dict[str, Any], context: Any, real: Any = real, task: str = task) -> Any:
                result = real(event, context)  # its events are written...
                if task not in killed:
                    killed.append(task)
                    raise RuntimeExited("Runtime exited with error: signal: killed")  # ...then it dies
                return result

            lambda_server.register(name, dies_once)
        auth = new_user(client)
        sid = new_session(client, auth)
        run_id = send(client, auth, sid, "write then read")["run_id"]
        mine = ended(container, sid, run_id, "completed")
        requests = len(fake.script.requests)
        takes_the_next_message(container, client, auth, sid)
    assert sorted(killed) == ["plan", "think"]
    assert _calls(mine) == ["file_write", "file_read"]
    # plan, 4 acts, summarize, and the killed Plan asked again; the killed Think did not: its retry
    # found the calls its first attempt had chosen and the step it had closed.
    assert requests == 6 + 1

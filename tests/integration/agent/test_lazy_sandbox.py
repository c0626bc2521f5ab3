"""A sandbox only when a tool needs one (docs/sandboxes.md), on the deployed ASL executed by moto with
the real `process` backend: a chat-only run starts none; a plan with sandbox steps starts one while its
first step thinks (StartSandbox, not waited for), and that step's tool call uses it; a tool call the
plan did not announce starts one itself, inside the run."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3

from riadex.adapters.sandbox.process.provider import _CHILDREN
from riadex.adapters.stepfunctions.workflow import execution_arn
from riadex.application import tool_catalog as tc
from riadex.bootstrap import Container
from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import check_invariants, new_session, new_user, send, wait_for_done
from tests.support.fake_openai import FakeOpenAI
from tests.support.llm_script import Item, Reply, ScriptedToolCall

JAILED = {"sandbox_browser": False, "sandbox_network": "none", "sandbox_jail": "auto"}


def _children(container: Container) -> list[str]:
    """The sandbox processes this stack's provider started (and has not released)."""
    root = container.sandboxes.provider.root  # type: ignore[attr-defined]
    return [sid for sid, child in _CHILDREN.items() if child.directory.parent == root]


def _run(container: Container, client: Any, message: str) -> tuple[str, list[Any]]:
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, message)["run_id"]
    return sid, check_invariants(wait_for_done(container, sid, run_id, timeout=90), run_id)


def _task_results(container: Container, run_id: str) -> list[Any]:
    """The outputs of the execution's Lambda tasks, in order (the Invoke API's answers)."""
    arn = execution_arn(container.settings.state_machine_arn or "", run_id)
    sfn = boto3.client("stepfunctions", region_name=container.settings.aws_region)
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    succeeded = [e["taskSucceededEventDetails"] for e in history if e["type"] == "TaskSucceeded"]
    return [json.loads(details["output"]) for details in succeeded]


def _system(body: dict[str, Any]) -> str:
    first = body["messages"][0]
    return str(first["content"]) if first["role"] == "system" else ""


def _shell_step(plan_tools: list[str], before_call: Any = None) -> Any:
    """A model whose plan is one step (naming `plan_tools`) that runs `echo lazy` in the shell."""

    def respond(body: dict[str, Any]) -> Item:
        system = _system(body)
        if "plan how to answer" in system:
            plan = {"title": "Echo", "steps": ["Echo in the shell"], "tools": plan_tools}
            return Reply(tool_calls=[ScriptedToolCall("submit_plan", plan)])
        if "The work is finished" in system:
            return Reply(text="Echoed.")
        if any(m["role"] == "tool" for m in body["messages"]):
            return Reply(text="Step done.")
        if before_call is not None:
            before_call()
        command = {"command": "echo lazy", "session_id": tc.DEFAULT_SHELL_SESSION}
        return Reply(tool_calls=[ScriptedToolCall(tc.SHELL_EXEC, command)])

    return respond


def test_a_chat_only_run_starts_no_sandbox(agent_stack: AgentFactory) -> None:
    container, client = agent_stack(**JAILED)
    for message in ("hello", "!search riadex"):  # no step; a step that uses no sandbox tool
        sid, mine = _run(container, client, message)
        assert mine[-1].data["status"] == "completed"
        assert [e for e in mine if e.type == "sandbox"] == []
        assert container.sandboxes.records.get(sid) is None  # never claimed, not even provisioning
        assert _children(container) == []


def test_a_plan_with_sandbox_steps_starts_it_while_the_first_step_thinks(
    agent_stack: AgentFactory,
) -> None:
    ready_before_the_call: list[bool] = []
    holder: dict[str, Any] = {}

    def wait_for_head_start() -> None:
        # The model "thinks" until the head start has brought the sandbox up: with no head start this
        # waits out its deadline and the test fails on the flag below.
        sandboxes, sid = holder["container"].sandboxes, holder["sid"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not sandboxes.is_ready(sid):
            time.sleep(0.05)
        ready_before_the_call.append(sandboxes.is_ready(sid))

    with FakeOpenAI(responder=_shell_step(["shell_exec"], wait_for_head_start)) as fake:
        container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url, **JAILED)
        holder["container"] = container
        auth = new_user(client)
        sid = new_session(client, auth)
        holder["sid"] = sid
        run_id = send(client, auth, sid, "echo something")["run_id"]
        mine = check_invariants(wait_for_done(container, sid, run_id, timeout=90), run_id)
    assert mine[-1].data["status"] == "completed"
    assert ready_before_the_call == [True]
    # StartSandbox did not wait for the acquire: Lambda accepted it as an asynchronous invoke.
    [started] = [r for r in _task_results(container, run_id) if r.get("StatusCode") == 202]
    assert started["Payload"] == ""
    kinds = [(e.type, e.data.get("status")) for e in mine if e.type in ("sandbox", "tool")]
    assert kinds == [
        ("sandbox", "provisioning"),
        ("sandbox", "ready"),
        ("tool", "calling"),
        ("tool", "called"),
    ]  # one sandbox, up before the call, which used it
    assert all(e.run_id == run_id for e in mine if e.type == "sandbox")
    [called] = [e.data for e in mine if e.type == "tool" and e.data["status"] == "called"]
    assert called["content"]["output"].strip() == "lazy"
    assert len(_children(container)) == 1


def test_a_tool_call_the_plan_did_not_announce_starts_the_sandbox_itself(agent_stack: AgentFactory) -> None:
    with FakeOpenAI(responder=_shell_step(["web_search"])) as fake:
        container, client = agent_stack(llm_provider="openai", openai_base_url=fake.base_url, **JAILED)
        _, mine = _run(container, client, "echo something")
    assert mine[-1].data["status"] == "completed"
    assert not [r for r in _task_results(container, mine[-1].run_id) if r.get("StatusCode") == 202]
    kinds = [(e.type, e.data.get("status")) for e in mine if e.type in ("sandbox", "tool")]
    assert kinds == [
        ("tool", "calling"),
        ("sandbox", "provisioning"),
        ("sandbox", "ready"),
        ("tool", "called"),
    ]  # started by the call itself, its events in the run
    run_id = mine[-1].run_id
    assert all(e.run_id == run_id for e in mine if e.type == "sandbox")
    assert len(_children(container)) == 1

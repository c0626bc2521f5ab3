"""Paths the deployed stack splits across functions, run end to end (the template tier checks each
function's rights and reach on what these record): a user answers a paused run through the streaming
`POST /chat`; tool calls a Think leaves for the Act task (a long tool turn) run there; and the
scheduled reaper releases an idle sandbox and writes its event."""

from __future__ import annotations

import boto3

from riadex.adapters.stepfunctions.workflow import execution_arn
from riadex.entrypoints.scheduled.reaper import reap
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


def test_an_answer_through_chat_resumes_the_waiting_run(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!ask Which colour?")["run_id"]
    wait_until(container, sid, lambda es: any(e.type == "run" and e.data["status"] == "waiting" for e in es))

    with client.stream("POST", f"/api/v1/sessions/{sid}/chat", json={"message": "blue"}, headers=auth) as r:
        assert r.status_code == 200
        body = "".join(r.iter_text())
    assert "event: done" in body  # the stream followed the resumed run to its end
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    answered = [e for e in mine if e.type == "tool" and e.data["status"] == "called"]
    assert answered[0].data["function"] == "message_ask_user"
    assert answered[0].data["content"] == "blue"
    assert mine[-1].data["status"] == "completed"


def test_calls_a_think_leaves_run_in_act_with_the_events_of_the_inline_path(
    agent_stack: AgentFactory,
) -> None:
    # RUN_INLINE_TOOL_SECONDS=0: Think runs no tool itself, so every call it chooses is left for Act,
    # the path a turn takes once its tools have run for a minute (docs/architecture.md).
    container, client = agent_stack(run_inline_tool_seconds=0)
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "Two steps\n!shell echo one\n!shell echo two")["run_id"]
    mine = check_invariants(wait_for_done(container, sid, run_id, timeout=90), run_id)

    step = [("tool", "shell_exec:calling"), ("tool", "shell_exec:called"), ("message", "assistant")]
    expected = [("run", "queued"), ("message", "user"), ("run", "running"), ("title", ""), ("plan", "")]
    expected += [("step", "started"), *step, ("step", "completed"), ("plan", ""), ("step", "started")]
    expected += [*step, ("step", "completed"), ("plan", ""), ("message", "assistant")]
    expected += [("run", "completed"), ("done", "completed")]
    assert without_sandbox(mine) == expected
    called = [e.data for e in mine if e.type == "tool" and e.data["status"] == "called"]
    assert [c["content"]["output"].strip() for c in called] == ["one", "two"]

    sfn = boto3.client("stepfunctions", region_name=container.settings.aws_region)
    arn = execution_arn(container.settings.state_machine_arn or "", run_id)
    history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"] == "TaskStateEntered"]
    assert entered.count("Act") == 2  # one per step's call, each followed by the Think that reads it
    assert [entered[i + 1] for i, name in enumerate(entered) if name == "Act"] == ["Think", "Think"]


def test_the_reaper_releases_an_idle_sandbox_and_logs_it(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!shell echo hi")["run_id"]
    wait_for_done(container, sid, run_id)

    assert reap(container.sandboxes, idle_seconds=0) == [sid]
    events = container.events.read(sid, 0, None)
    assert events[-1].type == "sandbox"
    assert events[-1].data["status"] == "released"

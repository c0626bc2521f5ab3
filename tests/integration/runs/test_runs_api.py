"""Runs over HTTP with the state machine really executing (moto Step Functions + our task handlers)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from riadex.adapters.stepfunctions.workflow import execution_arn
from riadex.bootstrap import Container
from riadex.entrypoints.local.agent_workflow import LocalAgent
from tests.integration.runs.helpers import (
    new_session,
    new_user,
    send,
    stream,
    wait_for_done,
)
from tests.support.settle import settle


def _sfn() -> Any:
    return boto3.client("stepfunctions", region_name="us-east-1")


def _execution_status(container: Container, run_id: str) -> str:
    arn = container.settings.state_machine_arn
    assert arn is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = str(_sfn().describe_execution(executionArn=execution_arn(arn, run_id))["status"])
        if status != "RUNNING":
            return status
        time.sleep(0.05)
    return "RUNNING"


def _settled(container: Container, run_id: str) -> str:
    """The execution's status once it has ended and been finalized: nothing can write to the run after."""
    return settle(container.settings.state_machine_arn, run_id)[run_id]


def _summary(events: list[Any], run_id: str) -> list[tuple[str, Any]]:
    """The run's lifecycle: its statuses, messages and done (the agent loop's own events — sandbox,
    title, plan, step, tool, delta — are checked by tests/integration/agent)."""
    kept = ("run", "message", "error", "done")
    return [
        (e.type, e.data.get("status", e.data.get("role")))
        for e in events
        if e.run_id == run_id and e.type in kept
    ]


def test_a_message_runs_to_completion_with_the_echo(client: TestClient, container: Container) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    response = send(client, auth, sid, "hello riadex")
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    assert data["status"] == "queued"
    assert data["events_url"] == f"/api/v1/runs/{data['run_id']}/events"
    run_id = data["run_id"]

    events = wait_for_done(container, sid, run_id)
    assert _summary(events, run_id) == [
        ("run", "queued"),
        ("message", "user"),
        ("run", "running"),
        ("message", "assistant"),
        ("run", "completed"),
        ("done", "completed"),
    ]
    reply = next(e for e in events if e.type == "message" and e.data["role"] == "assistant")
    assert reply.data["content"] == "hello riadex"
    assert _execution_status(container, run_id) == "SUCCEEDED"
    run = client.get(f"/api/v1/runs/{run_id}", headers=auth).json()["data"]
    assert run["status"] == "completed"
    assert run["usage"]["steps"] == 0  # a plain answer: no plan step
    assert run["started_at"] is not None
    assert run["ended_at"] is not None
    session = client.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]
    assert (session["status"], session["active_run_id"], session["last_seq"]) == ("idle", None, len(events))


def _running_a_tool(client: TestClient, container: Container, auth: dict[str, str], sid: str) -> str:
    """A run whose `!sleep 20` call is in flight (its `tool{calling}` is stored)."""
    run_id = send(client, auth, sid, "!sleep 20").json()["data"]["run_id"]
    deadline = time.monotonic() + 60
    while not any(e.type == "tool" and e.run_id == run_id for e in container.events.read(sid, 0, None)):
        assert time.monotonic() < deadline, "the sleep's call never started"
        time.sleep(0.05)
    return run_id


def _ended_cancelled_once(container: Container, sid: str, run_id: str) -> None:
    """The cancel's end, whoever wrote it: running → cancelling → cancelled, one done with the
    cancel's reason, the sleep's call closed failed."""
    events = wait_for_done(container, sid, run_id)
    assert _summary(events, run_id)[-4:] == [
        ("run", "running"),
        ("run", "cancelling"),
        ("run", "cancelled"),
        ("done", "cancelled"),
    ]
    assert [e.data.get("reason") for e in events if e.type == "done"] == ["cancelled by the user"]
    results = [e.data["status"] for e in events if e.type == "tool" and e.data["status"] != "calling"]
    assert results == ["failed"]


def test_a_busy_session_answers_409_and_cancel_of_a_running_run_ends_it(
    client: TestClient, container: Container, agent: LocalAgent
) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = _running_a_tool(client, container, auth, sid)
    busy = send(client, auth, sid, "second")
    assert busy.status_code == 409
    assert busy.json()["data"] == {"active_run_id": run_id}

    cancelled = client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
    assert cancelled.status_code == 200
    assert cancelled.json()["data"]["status"] == "cancelled"
    again = client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
    assert again.json()["data"]["status"] == "cancelled"

    _ended_cancelled_once(container, sid, run_id)
    # Stopped by the cancel (ABORTED), or ended by itself first (the tool call killed, its task found
    # the run cancelling: SUCCEEDED); the next two tests pin each timing.
    assert _settled(container, run_id) in ("ABORTED", "SUCCEEDED")
    assert send(client, auth, sid, "after cancel").status_code == 202


def test_a_cancel_whose_stop_lands_after_the_execution_ended_by_itself_ends_cancelled(
    client: TestClient, container: Container, agent: LocalAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel marks the run cancelling; the killed tool call returns, the task finds the run
    cancelling and the execution ends SUCCEEDED before the cancel's StopExecution reaches it."""
    workflow = container.run_service.workflow
    stop = workflow.stop
    arn = container.settings.state_machine_arn

    def stop_after_the_end(run_id: str, cause: str, execution: str | None = None) -> None:
        assert _execution_status(container, run_id) == "SUCCEEDED"  # waits for the execution's end
        stop(run_id, cause, execution)

    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = _running_a_tool(client, container, auth, sid)
    monkeypatch.setattr(workflow, "stop", stop_after_the_end)
    cancelled = client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
    monkeypatch.undo()
    assert (cancelled.status_code, cancelled.json()["data"]["status"]) == (200, "cancelled")
    _ended_cancelled_once(container, sid, run_id)
    assert settle(arn, run_id) == {run_id: "SUCCEEDED"}
    assert send(client, auth, sid, "after cancel").status_code == 202


def test_a_cancel_that_dies_before_its_stop_still_ends_the_run_cancelled(
    client: TestClient, container: Container, agent: LocalAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The canceller (the API Lambda) dies after marking the run cancelling, before StopExecution:
    nothing else would end the run, so the execution's next task ends it (the session is not left busy)."""
    workflow = container.run_service.workflow

    def dies(run_id: str, cause: str, execution: str | None = None) -> None:
        raise RuntimeError("the API died before its StopExecution")

    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = _running_a_tool(client, container, auth, sid)
    monkeypatch.setattr(workflow, "stop", dies)
    died = client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
    monkeypatch.undo()
    assert died.status_code == 500
    assert "Traceback" not in died.text
    _ended_cancelled_once(container, sid, run_id)
    assert _settled(container, run_id) == "SUCCEEDED"
    assert client.get(f"/api/v1/runs/{run_id}", headers=auth).json()["data"]["status"] == "cancelled"
    following = send(client, auth, sid, "after the cancel").json()["data"]["run_id"]
    wait_for_done(container, sid, following)


def test_cancel_of_a_queued_run_is_immediate_and_it_never_runs(
    client: TestClient, container: Container, agent: LocalAgent
) -> None:
    gate = threading.Event()
    start_run = agent.server.handlers[f"{agent.prefix}start-run"]

    def held_start(event: dict[str, Any], context: Any) -> Any:
        gate.wait(10)
        return start_run(event, context)

    agent.server.register(f"{agent.prefix}start-run", held_start)
    try:
        auth = new_user(client)
        sid = new_session(client, auth)
        run_id = send(client, auth, sid, "hi").json()["data"]["run_id"]
        cancelled = client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth).json()["data"]
        assert cancelled["status"] == "cancelled"
    finally:
        gate.set()
        agent.server.register(f"{agent.prefix}start-run", start_run)
    wait_for_done(container, sid, run_id)
    assert _settled(container, run_id) == "ABORTED"  # the cancel stopped it
    events = container.events.read(sid, 0, None)
    assert _summary(events, run_id) == [
        ("run", "queued"),
        ("message", "user"),
        ("run", "cancelled"),
        ("done", "cancelled"),
    ]


def test_the_same_idempotency_key_concurrently_yields_one_run(
    client: TestClient, container: Container
) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    with ThreadPoolExecutor(6) as pool:
        responses = list(
            pool.map(lambda _: send(client, auth, sid, "once", **{"Idempotency-Key": "key-1"}), range(6))
        )
    assert {r.status_code for r in responses} == {202}
    run_ids = {r.json()["data"]["run_id"] for r in responses}
    assert len(run_ids) == 1
    run_id = run_ids.pop()
    wait_for_done(container, sid, run_id)
    assert [r.run_id for r in container.runs.list_for_session(sid)] == [run_id]
    arn = container.settings.state_machine_arn
    executions = _sfn().list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions].count(run_id) == 1
    assert [e.type for e in container.events.read(sid, 0, None)].count("message") == 2  # user + reply

    later = send(client, auth, sid, "once", **{"Idempotency-Key": "key-1"})
    assert (later.status_code, later.json()["data"]["run_id"]) == (202, run_id)
    other = send(client, auth, sid, "another body", **{"Idempotency-Key": "key-1"})
    assert other.status_code == 422
    assert "different request body" in other.json()["msg"]


def test_a_failing_model_ends_with_error_and_done_failed(
    client: TestClient, container: Container, agent: LocalAgent
) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!fail the provider said no").json()["data"]["run_id"]
    events = wait_for_done(container, sid, run_id)
    error = next(e for e in events if e.type == "error")
    assert error.data["code"] == "model_failed"
    assert not error.data["retryable"]
    assert "the provider said no" in error.data["message"]
    assert _summary(events, run_id)[-2:] == [("run", "failed"), ("done", "failed")]
    assert _settled(container, run_id) == "FAILED"  # and the watcher finalized it: nothing new
    assert [e.type for e in container.events.read(sid, 0, None)].count("done") == 1
    run = client.get(f"/api/v1/runs/{run_id}", headers=auth).json()["data"]
    assert run["error"]["code"] == "model_failed"


def _stopped_from_outside_ends_cancelled(
    client: TestClient, container: Container, agent: LocalAgent, auth: dict[str, str], sid: str, run_id: str
) -> None:
    wait_for_done(container, sid, run_id)
    assert _settled(container, run_id) == "ABORTED"
    events = container.events.read(sid, 0, None)
    dones = [e.data for e in events if e.type == "done"]
    assert len(dones) == 1
    assert dones[0]["status"] == "cancelled"
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert container.sessions.get(sid).active_run_id is None  # type: ignore[union-attr]
    assert client.get(f"/api/v1/runs/{run_id}", headers=auth).json()["data"]["status"] == "cancelled"
    following = send(client, auth, sid, "after the stop").json()["data"]["run_id"]
    assert [e.data["status"] for e in wait_for_done(container, sid, following) if e.type == "done"] == [
        "cancelled",
        "completed",
    ]


def test_an_execution_stopped_from_outside_as_it_leaves_start_run_ends_cancelled(
    client: TestClient, container: Container, agent: LocalAgent
) -> None:
    """The stop lands while StartRun's task is returning, so moto enters the next states stopped (a
    Parallel branch starting on a stopped execution, as the plan once was, crashed and ended it FAILED;
    local/moto_fidelity.py makes the stop final whatever state comes next)."""
    auth = new_user(client)
    sid = new_session(client, auth)
    arn = container.settings.state_machine_arn
    assert arn is not None
    name = f"{agent.prefix}start-run"
    start_run = agent.server.handlers[name]

    def start_then_stop(event: dict[str, Any], context: Any) -> Any:
        result = start_run(event, context)
        _sfn().stop_execution(executionArn=execution_arn(arn, event["run_id"]), cause="operator")
        return result

    agent.server.register(name, start_then_stop)
    try:
        run_id = send(client, auth, sid, "!sleep 1.5").json()["data"]["run_id"]
        wait_for_done(container, sid, run_id)
    finally:
        agent.server.register(name, start_run)
    _stopped_from_outside_ends_cancelled(client, container, agent, auth, sid, run_id)


def test_an_execution_stopped_from_outside_during_a_tool_call_ends_cancelled(
    client: TestClient, container: Container, agent: LocalAgent
) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!sleep 1.5").json()["data"]["run_id"]
    deadline = time.monotonic() + 60
    while not any(e.type == "tool" for e in container.events.read(sid, 0, None)):  # the call started
        assert time.monotonic() < deadline
        time.sleep(0.02)
    arn = container.settings.state_machine_arn
    assert arn is not None
    _sfn().stop_execution(executionArn=execution_arn(arn, run_id), cause="operator")
    _stopped_from_outside_ends_cancelled(client, container, agent, auth, sid, run_id)


def test_stop_and_delete_session_cancel_the_active_run(client: TestClient, container: Container) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!sleep 20").json()["data"]["run_id"]
    stopped = client.post(f"/api/v1/sessions/{sid}/stop", headers=auth).json()["data"]
    assert (stopped["active_run_id"], stopped["status"]) == (None, "idle")
    assert client.get(f"/api/v1/runs/{run_id}", headers=auth).json()["data"]["status"] == "cancelled"

    second = send(client, auth, sid, "!sleep 20").json()["data"]["run_id"]
    assert client.delete(f"/api/v1/sessions/{sid}", headers=auth).status_code == 200
    assert client.get(f"/api/v1/runs/{second}", headers=auth).status_code == 404
    assert container.runs.list_for_session(sid) == []
    assert container.events.read(sid, 0, None) == []
    assert _execution_status(container, second) != "RUNNING"


def test_bad_input_is_a_clear_4xx_and_writes_nothing(client: TestClient, container: Container) -> None:
    auth, other = new_user(client), new_user(client, "eve")
    sid = new_session(client, auth)

    too_big = send(client, auth, sid, "x" * (container.settings.max_message_chars + 1))
    assert too_big.status_code == 413
    assert too_big.json()["code"] == 413
    assert container.runs.list_for_session(sid) == []
    assert container.events.read(sid, 0, None) == []

    run_id = send(client, auth, sid, "hi").json()["data"]["run_id"]
    wait_for_done(container, sid, run_id)
    url = f"/api/v1/sessions/{sid}/events"
    for headers, query in (({"Last-Event-ID": "abc"}, ""), ({}, "?after=-2"), ({"Last-Event-ID": "99"}, "")):
        bad = client.get(url + query, headers={**auth, **headers})
        assert bad.status_code == 400, bad.text
        assert set(bad.json()) == {"code", "msg", "data"}
    assert client.get(f"/api/v1/runs/{run_id}/events?after=x", headers=auth).status_code == 400

    foreign = client.post(f"/api/v1/runs/{run_id}/cancel", headers=other)
    assert foreign.status_code == 404
    assert client.get(f"/api/v1/runs/{run_id}", headers=other).status_code == 404
    assert client.get(f"/api/v1/runs/{run_id}/events", headers=other).status_code == 404
    assert client.get(url, headers=other).status_code == 404
    assert send(client, other, sid, "mine now?").status_code == 404
    assert client.get("/api/v1/runs/run_nope", headers=auth).status_code == 404
    assert client.get(url).status_code == 401
    chat = client.post(f"/api/v1/sessions/{sid}/chat", json={}, headers=auth)
    assert chat.status_code == 422  # neither a message nor an event_id: a wrong value (docs/api.md)
    assert len(container.runs.list_for_session(sid)) == 1


def test_run_stream_replays_a_finished_run_and_closes_after_done(
    client: TestClient, container: Container
) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    first = send(client, auth, sid, "one").json()["data"]["run_id"]
    wait_for_done(container, sid, first)
    second = send(client, auth, sid, "two").json()["data"]["run_id"]
    wait_for_done(container, sid, second)

    seqs = [e.seq for e in container.events.read(sid, 0, None) if e.run_id == second]
    first_seq, last = seqs[0], seqs[-1]
    assert seqs == list(range(first_seq, last + 1))
    messages = stream(client, f"/api/v1/runs/{second}/events", auth)
    assert [int(m[0]) for m in messages] == seqs
    assert messages[-1][1] == "done"
    assert all(json.loads(m[2])["run_id"] == second for m in messages)
    # The cursor is exclusive and the header wins over ?after=.
    resumed = stream(
        client, f"/api/v1/runs/{second}/events?after={first_seq}", auth, **{"Last-Event-ID": str(last - 2)}
    )
    assert [int(m[0]) for m in resumed] == [last - 1, last]
    assert stream(client, f"/api/v1/runs/{second}/events", auth, **{"Last-Event-ID": str(last)}) == []
    # A token in the query (EventSource cannot send headers) works too.
    token = auth["Authorization"].removeprefix("Bearer ")
    whole = stream(
        client, f"/api/v1/sessions/{sid}/events?access_token={token}&after={last - 2}", {}, limit=2
    )
    assert [m[0] for m in whole[:2]] == [str(last - 1), str(last)]


def test_chat_sends_and_streams_until_done(client: TestClient, container: Container) -> None:
    auth = new_user(client)
    sid = new_session(client, auth)
    with client.stream("POST", f"/api/v1/sessions/{sid}/chat", json={"message": "hey"}, headers=auth) as r:
        assert r.status_code == 200
        body = r.read().decode()
    ids = [line.removeprefix("id: ") for line in body.splitlines() if line.startswith("id: ")]
    stored = [str(e.seq) for e in container.events.read(sid, 0, None)]
    assert ids == stored
    assert ids[0] == "1"
    assert "event: done" in body
    cut = len(ids) - 2
    with client.stream("POST", f"/api/v1/sessions/{sid}/chat", json={"event_id": cut}, headers=auth) as r:
        resumed = r.read().decode()
    assert [line for line in resumed.splitlines() if line.startswith("id: ")] == [
        f"id: {cut + 1}",
        f"id: {cut + 2}",
    ]


def test_a_failure_racing_a_cancel_ends_the_run_once_either_way(
    client: TestClient, container: Container
) -> None:
    """A `fail` and a user's cancel land together on a running run (real DynamoDB writes, two threads
    released at once): exactly one done, and the run's status is the done's (tests/unit/test_runs.py
    pins the interleaving where the cancel marks the run cancelling between fail's read and its end)."""
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!sleep 20").json()["data"]["run_id"]
    deadline = time.monotonic() + 120
    while not any(e.type == "tool" and e.run_id == run_id for e in container.events.read(sid, 0, None)):
        assert time.monotonic() < deadline  # the sleep's call has started: the sandbox is up
        time.sleep(0.05)
    go = threading.Barrier(2)

    def fail() -> None:
        go.wait()
        container.run_service.fail(run_id, "tool_crashed", "the tool crashed")

    def cancel() -> None:
        go.wait()
        client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(fail), pool.submit(cancel)]:
            future.result(30)
    events = wait_for_done(container, sid, run_id)
    mine = [e for e in events if e.run_id == run_id]
    dones = [e.data["status"] for e in mine if e.type == "done"]
    assert len(dones) == 1, dones
    assert mine[-1].type == "done"
    run = container.runs.get(run_id)
    assert run is not None
    assert run.status.value == dones[0]
    assert dones[0] in ("failed", "cancelled")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert send(client, auth, sid, "after the race").status_code == 202

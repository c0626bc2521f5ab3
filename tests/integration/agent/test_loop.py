"""The deployed ASL executed on moto, driven over HTTP like a client would, with the scripted model
(docs/api.md) and a real `process` sandbox: every test checks the whole event sequence of its run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

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
from tests.integration.sandbox_server.pages import Site

CHROMIUM = "/usr/bin/chromium"


def _step(index: int, function: str, outcome: str = "called") -> list[tuple[str, str]]:
    """The events of one directive's step (the first step's `plan`/`step started` come with the plan);
    a step whose only call failed is `failed`."""
    return [
        ("tool", f"{function}:calling"),
        ("tool", f"{function}:{outcome}"),
        ("message", "assistant"),
        ("step", "failed" if outcome == "failed" else "completed"),
    ]


def _next_step() -> list[tuple[str, str]]:
    return [("plan", ""), ("step", "started")]


def test_a_multi_step_plan_uses_shell_and_file_in_a_real_jailed_sandbox(agent_stack: AgentFactory) -> None:
    container, client = agent_stack(sandbox_browser=False, sandbox_network="none", sandbox_jail="auto")
    auth = new_user(client)
    sid = new_session(client, auth)
    lines = [
        "Please do this",
        "!shell echo $((6 * 7))",
        "!write notes/a.txt first line\\nsecond",
        "!read notes/a.txt",
    ]
    run = send(client, auth, sid, "\n".join(lines))
    mine = check_invariants(wait_for_done(container, sid, run["run_id"], timeout=90), run["run_id"])

    expected = [("run", "queued"), ("message", "user"), ("run", "running"), ("title", ""), ("plan", "")]
    expected += [("step", "started"), *_step(0, "shell_exec"), *_next_step(), *_step(1, "file_write")]
    expected += [*_next_step(), *_step(2, "file_read")]
    expected += [("plan", ""), ("message", "assistant"), ("run", "completed"), ("done", "completed")]
    assert without_sandbox(mine) == expected
    sandbox = [e.data["status"] for e in mine if e.type == "sandbox"]
    assert sandbox == ["provisioning", "ready"]  # started once, ahead of the first step, then reused

    results = {e.data["function"]: e.data for e in mine if e.type == "tool" and e.data["status"] == "called"}
    assert results["shell_exec"]["content"]["output"].strip() == "42"
    assert results["file_read"]["content"]["content"] == "first line\nsecond"
    title = next(e for e in mine if e.type == "title")
    assert title.data == {"title": "Please do this !shell echo $((6 * 7)) !w"}
    final_plan = [e for e in mine if e.type == "plan"][-1].data["steps"]
    assert [s["status"] for s in final_plan] == ["completed"] * len(final_plan)
    summary = [e for e in mine if e.type == "message" and e.data["role"] == "assistant"][-1]
    assert "42" in summary.data["content"]
    assert "first line" in summary.data["content"]
    deltas = "".join(
        e.data["text"]
        for e in mine
        if e.type == "delta" and e.data["message_id"] == summary.data["message_id"]
    )
    assert deltas == summary.data["content"]  # the streamed batches add up to the message
    done = mine[-1].data
    assert done["usage"]["tool_calls"] == len(lines) - 1
    assert done["usage"]["steps"] == len(lines) - 1
    assert done["usage"]["input_tokens"] > 0
    assert done["usage"]["output_tokens"] > 0
    session = client.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]
    assert session["title"] == title.data["title"]
    # The sandbox the run used is the session's: the file view sees what the agent wrote.
    view = client.post(f"/api/v1/sessions/{sid}/file", json={"file": "notes/a.txt"}, headers=auth)
    assert view.json()["data"]["content"] == "first line\nsecond"


def test_a_browser_step_reads_a_page_in_the_sandbox(agent_stack: AgentFactory) -> None:
    if shutil.which("chromium") is None and shutil.which(CHROMIUM) is None:
        pytest.skip("chromium is missing (apt-get install chromium; `make system-deps` installs it)")
    # Chromium does not start inside the bubblewrap jail here (no /dev/shm, no user namespaces for its
    # own sandbox), so this run uses the process backend unjailed, and the host network to reach the
    # local page; the other agent tests run jailed.
    container, client = agent_stack(sandbox_browser=True, sandbox_network="host", sandbox_jail="none")
    auth = new_user(client)
    sid = new_session(client, auth)
    with Site() as site:
        run = send(client, auth, sid, f"Look at this\n!browse {site.url}/second")
        mine = check_invariants(wait_for_done(container, sid, run["run_id"], timeout=90), run["run_id"])
    assert mine[-1].data["status"] == "completed"
    [navigated] = [e.data for e in mine if e.type == "tool" and e.data["status"] == "called"]
    assert navigated["function"] == "browser_navigate"
    assert navigated["content"]["title"] == "Second page"
    assert "You reached the second page" in navigated["content"]["text"]


def test_a_tool_failure_is_reported_to_the_model_which_carries_on(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run = send(client, auth, sid, "!read does/not/exist.txt\n!shell echo recovered")
    mine = check_invariants(wait_for_done(container, sid, run["run_id"]), run["run_id"])
    assert without_sandbox(mine) == [
        ("run", "queued"),
        ("message", "user"),
        ("run", "running"),
        ("title", ""),
        ("plan", ""),
        ("step", "started"),
        *_step(0, "file_read", "failed"),
        *_next_step(),
        *_step(1, "shell_exec"),
        ("plan", ""),
        ("message", "assistant"),
        ("run", "completed"),
        ("done", "completed"),
    ]
    failed = next(e for e in mine if e.type == "tool" and e.data["status"] == "failed")
    assert "no such file" in failed.data["content"]["error"]
    final_plan = [e for e in mine if e.type == "plan"][-1].data["steps"]
    assert [s["status"] for s in final_plan] == ["failed", "completed"]
    summary = mine[-3].data["content"]
    assert "1. !read does/not/exist.txt\nFailed: " in summary
    assert "no such file" in summary
    assert "recovered" in summary


def test_a_site_that_refuses_the_browser_is_a_failed_tool_call_not_a_failed_run(
    agent_stack: AgentFactory,
) -> None:
    """The tool server answered (its error envelope): the model reads the failure, nothing is retried."""
    if shutil.which("chromium") is None and shutil.which(CHROMIUM) is None:
        pytest.skip("browser not run: chromium is missing (apt-get install chromium)")
    container, client = agent_stack(sandbox_browser=True, sandbox_network="host", sandbox_jail="none")
    auth = new_user(client)
    sid = new_session(client, auth)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    run = send(client, auth, sid, f"!browse {refused}\n!shell echo carried on")
    mine = check_invariants(wait_for_done(container, sid, run["run_id"], timeout=90), run["run_id"])
    failed = [e.data for e in mine if e.type == "tool" and e.data["status"] == "failed"]
    assert [f["function"] for f in failed] == ["browser_navigate"]
    assert "ERR_CONNECTION_REFUSED" in failed[0]["content"]["error"]
    assert [e.type for e in mine if e.type == "error"] == []
    assert mine[-1].data["status"] == "completed"
    assert "carried on" in [e for e in mine if e.type == "message"][-1].data["content"]


def test_cancel_in_the_middle_of_a_long_sleep_kills_the_command(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run = send(client, auth, sid, "!sleep 37.25")
    run_id = run["run_id"]
    wait_until(container, sid, lambda es: any(e.type == "tool" and e.data["status"] == "calling" for e in es))
    wait_until(container, sid, lambda es: _sleeping("37.25"), timeout=10)

    cancelled = client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth)
    assert cancelled.json()["data"]["status"] == "cancelled"
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    deadline = time.monotonic() + 10
    while _sleeping("37.25") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _sleeping("37.25"), "the sandbox's command outlived the cancel"
    assert without_sandbox(mine) == [
        ("run", "queued"),
        ("message", "user"),
        ("run", "running"),
        ("title", ""),
        ("plan", ""),
        ("step", "started"),
        ("tool", "shell_exec:calling"),
        ("run", "cancelling"),
        ("tool", "shell_exec:failed"),  # the cancel closes the open call: a client's spinner stops
        ("step", "failed"),  # and the open step, in the plan too
        ("plan", ""),
        ("run", "cancelled"),
        ("done", "cancelled"),
    ]
    closed = [e for e in mine if e.type == "tool"][-1].data
    assert "the run ended (cancelled" in closed["content"]["error"]
    # wait_for_done waited for the execution's end and its finalization: nothing after the done.
    assert len(container.events.read(sid, 0, None)) == mine[-1].seq
    # The session is usable again, with the same sandbox (cancel never destroys it).
    again = send(client, auth, sid, "!shell echo still here")
    after = check_invariants(wait_for_done(container, sid, again["run_id"]), again["run_id"])
    assert [e for e in after if e.type == "sandbox"] == []
    assert after[-1].data["status"] == "completed"
    assert [e.data["function"] for e in after if e.type == "tool"] == ["shell_exec", "shell_exec"]


def _sleeping(seconds: str) -> bool:
    found = subprocess.run(["pgrep", "-f", f"sleep {seconds}"], capture_output=True, check=False)
    return found.returncode == 0


def test_ask_user_waits_and_the_next_message_resumes_the_run(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!ask Which colour?\n!shell echo go on")["run_id"]
    wait_until(container, sid, lambda es: any(e.type == "run" and e.data["status"] == "waiting" for e in es))
    assert client.get(f"/api/v1/runs/{run_id}", headers=auth).json()["data"]["status"] == "waiting"
    session = client.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]
    assert session["active_run_id"] == run_id
    assert session["status"] == "waiting"  # the session shows its run waiting for the user
    listed = client.get("/api/v1/sessions", headers=auth).json()["data"]["sessions"]
    assert [s["status"] for s in listed if s["session_id"] == sid] == ["waiting"]

    answer = client.post(f"/api/v1/sessions/{sid}/messages", json={"message": "blue"}, headers=auth)
    assert answer.status_code == 202, answer.text
    assert answer.json()["data"]["run_id"] == run_id
    assert client.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]["status"] != "waiting"
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    assert client.get(f"/api/v1/sessions/{sid}", headers=auth).json()["data"]["status"] == "idle"
    assert without_sandbox(mine) == [
        ("run", "queued"),
        ("message", "user"),
        ("run", "running"),
        ("title", ""),
        ("plan", ""),
        ("step", "started"),
        ("tool", "message_ask_user:calling"),
        ("wait", ""),
        ("run", "waiting"),
        ("message", "user"),
        ("tool", "message_ask_user:called"),
        ("run", "running"),
        ("message", "assistant"),
        ("step", "completed"),
        *_next_step(),
        *_step(1, "shell_exec"),
        ("plan", ""),
        ("message", "assistant"),
        ("run", "completed"),
        ("done", "completed"),
    ]
    wait = next(e for e in mine if e.type == "wait")
    call = next(e for e in mine if e.type == "tool" and e.data["status"] == "calling")
    assert wait.data == {
        "question": "Which colour?",
        "tool_call_id": call.data["tool_call_id"],
        "reason": "ask",
    }
    result = next(
        e
        for e in mine
        if e.type == "tool" and e.data["function"] == "message_ask_user" and e.data["status"] == "called"
    )
    assert result.data["content"] == "blue"
    assert "blue" in mine[-3].data["content"]  # the summary reports the answer as the ask's result


def test_cancel_while_waiting_for_an_answer_ends_the_run_and_its_execution(agent_stack: AgentFactory) -> None:
    """The stop reaches an execution paused on AskUser's task token (wait_for_done waits for the
    execution's end: it used to stay RUNNING locally until the ask's timeout, a day)."""
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!ask Which?")["run_id"]
    wait_until(container, sid, lambda es: any(e.type == "run" and e.data["status"] == "waiting" for e in es))
    assert client.post(f"/api/v1/runs/{run_id}/cancel", headers=auth).json()["data"]["status"] == "cancelled"
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    assert without_sandbox(mine)[-8:] == [
        ("wait", ""),
        ("run", "waiting"),
        ("run", "cancelling"),
        ("tool", "message_ask_user:failed"),
        ("step", "failed"),
        ("plan", ""),
        ("run", "cancelled"),
        ("done", "cancelled"),
    ]


def test_a_wait_that_expires_ends_timed_out(agent_stack: AgentFactory) -> None:
    container, client = agent_stack(run_ask_timeout_seconds=1)
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!ask Anyone there?")["run_id"]
    mine = check_invariants(wait_for_done(container, sid, run_id, timeout=30), run_id)
    assert without_sandbox(mine)[-8:] == [
        ("tool", "message_ask_user:calling"),
        ("wait", ""),
        ("run", "waiting"),
        ("tool", "message_ask_user:failed"),
        ("step", "failed"),
        ("plan", ""),
        ("run", "timed_out"),
        ("done", "timed_out"),
    ]
    assert "did not answer" in mine[-1].data["reason"]
    late = client.post(f"/api/v1/sessions/{sid}/messages", json={"message": "me!"}, headers=auth)
    assert late.status_code == 202
    assert late.json()["data"]["run_id"] != run_id


def test_a_budget_exceeded_ends_the_run_with_the_reason(agent_stack: AgentFactory) -> None:
    container, client = agent_stack(run_max_tool_calls=1)
    auth = new_user(client)
    sid = new_session(client, auth)
    run_id = send(client, auth, sid, "!shell echo one\n!shell echo two")["run_id"]
    mine = check_invariants(wait_for_done(container, sid, run_id), run_id)
    assert without_sandbox(mine)[-10:] == [
        ("tool", "shell_exec:called"),
        ("message", "assistant"),
        ("step", "completed"),
        *_next_step(),
        ("error", ""),
        ("step", "failed"),
        ("plan", ""),
        ("run", "failed"),
        ("done", "failed"),
    ]
    assert mine[-5].data["code"] == "budget_exceeded"
    assert [s["status"] for s in mine[-3].data["steps"]] == ["completed", "failed"]
    assert mine[-1].data["reason"] == "budget: more than 1 tool calls (RUN_MAX_TOOL_CALLS)"
    assert mine[-1].data["usage"]["tool_calls"] == 1
    assert mine[-1].data["usage"]["steps"] == 1

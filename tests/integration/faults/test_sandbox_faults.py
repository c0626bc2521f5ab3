"""The sandbox dying under a run: its process group SIGKILLed in the middle of a tool call, and between
two steps. The Act that finds it gone fails retryably, the state machine retries it and the call runs
again in a new sandbox; the run ends with its one done and the session takes the next message."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from riadex.adapters.sandbox.process import provider as process_provider
from riadex.bootstrap import Container
from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import new_session, new_user, send, wait_until
from tests.integration.faults.common import ended, takes_the_next_message


def _kill_the_sandbox(container: Container) -> None:
    root = container.sandboxes.provider.root  # type: ignore[attr-defined]
    [child] = [c for c in process_provider._CHILDREN.values() if c.directory.parent == root]
    os.killpg(child.process.pid, signal.SIGKILL)
    child.process.wait(10)


def test_a_sandbox_killed_mid_tool_and_between_steps_ends_the_run_cleanly(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    message = "Please do this\n!sleep 3.17\n!shell echo after the kill\n!shell echo last step"
    run_id = send(client, auth, sid, message)["run_id"]

    deadline = time.monotonic() + 60
    while subprocess.run(["pgrep", "-f", "sleep 3.17"], capture_output=True, check=False).returncode:
        assert time.monotonic() < deadline, "the sleep never started in the sandbox"
        time.sleep(0.05)
    _kill_the_sandbox(container)
    # Between two steps: once the second step's call is answered, kill the new sandbox before the third.
    wait_until(
        container,
        sid,
        lambda events: sum(1 for e in events if e.type == "tool" and e.data["status"] == "called") >= 1,
    )
    _kill_the_sandbox(container)
    mine = ended(container, sid, run_id, "completed")
    results = [
        (e.data["status"], e.data.get("content"))
        for e in mine
        if e.type == "tool" and e.data["status"] != "calling"
    ]
    # The sleep's Act found its sandbox gone (a retryable failure): the state machine retried the step,
    # which ran the call again in a new sandbox; the kill between steps cost the next call the same.
    assert [(status, content["output"].strip()) for status, content in results] == [
        ("called", ""),
        ("called", "after the kill"),
        ("called", "last step"),
    ], results
    sandboxes = [e.data["status"] for e in container.events.read(sid, 0, None) if e.type == "sandbox"]
    assert sandboxes.count("ready") >= 3, sandboxes  # the first, and one after each kill
    takes_the_next_message(container, client, auth, sid)


def test_a_tool_call_the_sandbox_never_answers_fails_after_the_timeout_and_the_run_goes_on(
    agent_stack: AgentFactory,
) -> None:
    """The tool server takes a call and never answers it (a write into a FIFO nobody reads blocks its
    handler for good, while /health still answers): after SANDBOX_TOOL_TIMEOUT the call is a failed
    result that says so, the stuck sandbox is stopped (not retried: the call may have half happened),
    and the next step runs in a new sandbox with the saved workspace."""
    container, client = agent_stack(sandbox_tool_timeout=2)
    auth = new_user(client)
    sid = new_session(client, auth)
    message = "\n".join(
        [
            "Hang it",
            "!shell mkfifo stuck && echo kept > notes.txt",
            "!write stuck nobody reads it",
            "!read notes.txt",
        ]
    )
    run_id = send(client, auth, sid, message)["run_id"]
    mine = ended(container, sid, run_id, "completed")

    results = [e.data for e in mine if e.type == "tool" and e.data["status"] != "calling"]
    assert [(r["function"], r["status"]) for r in results] == [
        ("shell_exec", "called"),
        ("file_write", "failed"),
        ("file_read", "called"),
    ], results
    hung = results[1]
    assert "the sandbox did not answer within 2 s" in hung["content"]["error"], hung
    assert "the next call starts a new one" in hung["content"]["error"]
    assert hung["duration_ms"] >= 2000
    assert results[2]["content"]["content"] == "kept\n"  # the new sandbox has the saved workspace
    steps = [e.data["status"] for e in mine if e.type == "step" and e.data["status"] != "started"]
    assert steps == ["completed", "failed", "completed"]
    sandboxes = [
        (e.data["status"], e.data.get("workspace", {}).get("action")) for e in mine if e.type == "sandbox"
    ]
    assert [s for s, _ in sandboxes].count("lost") == 1, sandboxes
    assert [s for s, _ in sandboxes].count("ready") == 2, sandboxes
    root = container.sandboxes.provider.root  # type: ignore[attr-defined]
    live = [c for c in process_provider._CHILDREN.values() if c.directory.parent == root]
    assert len(live) == 1, "the stuck sandbox was not stopped"
    takes_the_next_message(container, client, auth, sid)

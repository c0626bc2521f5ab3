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

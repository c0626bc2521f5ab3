"""The three paths that failed in AWS while every local test passed, each held against the template on
what the scenarios recorded (tests/integration/agent/test_deployed_paths.py and the loop's tests):
- the loop's tasks call the sandbox's tool server: they must be in the VPC, in a group it admits;
- the reaper appends a sandbox event (a transaction on the events table): it must be allowed to;
- an answer through the streaming POST /chat resumes the run (SendTaskSuccess): the stream function
  must be allowed to."""

from __future__ import annotations

import pytest

from tests.template.analysis import reach, rights
from tests.template.deployed import Deployed
from tests.template.recording import Naming, Recording


def _uses(stack: Deployed, recording: Recording, naming: Naming, function: str, action: str) -> list[bool]:
    result = rights(stack, recording, naming)
    denied = {(u.function, u.action, u.resource) for u in result.denied}
    return [
        (u.function, u.action, u.resource) not in denied
        for u in result.used.get(function, [])
        if u.action == action
    ]


def test_the_loop_tasks_that_call_a_sandbox_can_reach_it(stack: Deployed, recording: Recording) -> None:
    """AcquireSandbox, Think (tool calls inline) and Act (the calls left over): whichever the scenarios
    saw calling a tool server."""
    found = reach(stack, recording)
    tasks = {f for f, via in found.callers.items() if any(e.startswith("task:") for e in via)}
    if not tasks:
        pytest.skip("the recording holds no tool-server call by a loop task (agent scenarios not run)")
    assert not [p for p in found.problems if p.split(" ", 1)[0] in tasks]


def test_the_reaper_may_append_the_sandbox_event(
    stack: Deployed, recording: Recording, naming: Naming
) -> None:
    verdicts = _uses(stack, recording, naming, "ReaperFunction", "dynamodb:PutItem")
    if not verdicts:
        pytest.skip("the recording holds no reaper event write (test_deployed_paths.py did not run)")
    assert all(verdicts)


def test_an_answer_through_chat_may_resume_the_run(
    stack: Deployed, recording: Recording, naming: Naming
) -> None:
    verdicts = _uses(stack, recording, naming, "StreamFunction", "states:SendTaskSuccess")
    if not verdicts:
        pytest.skip("the recording holds no answer through POST /chat (test_deployed_paths.py did not run)")
    assert all(verdicts)

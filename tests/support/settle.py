"""A positive signal that nothing more can write to a run: every execution of the run has ended and the
watcher (the local EventBridge rule) has finalized the ones that ended FAILED, TIMED_OUT or ABORTED, and
no task invoked asynchronously (the sandbox's head start) is still running.

Tests wait on this instead of sleeping "long enough" before checking that nothing arrived after `done`.
"""

from __future__ import annotations

import time
from typing import Any

import boto3

from riadex.adapters.stepfunctions.workflow import execution_arn
from riadex.entrypoints.local.agent_workflow import FINAL_STATUSES, LocalAgent

_AGENTS: dict[str, LocalAgent] = {}
"""The running local agents by state machine ARN (registered by the fixtures that start them)."""


def register(agent: LocalAgent) -> None:
    _AGENTS[agent.arn] = agent


def unregister(agent: LocalAgent) -> None:
    _AGENTS.pop(agent.arn, None)


def settle(state_machine_arn: str | None, run_id: str, timeout: float = 60) -> dict[str, str]:
    """Wait until the run's executions (`<run_id>` and its continuations `<run_id>-<n>`) have all ended
    and the failed/timed-out/aborted ones are finalized; returns their statuses by name."""
    assert state_machine_arn is not None
    sfn: Any = boto3.client("stepfunctions", region_name=state_machine_arn.split(":")[3])
    agent = _AGENTS.get(state_machine_arn)
    deadline = time.monotonic() + timeout
    while True:
        statuses = execution_statuses(sfn, state_machine_arn, run_id)
        unfinalized = [
            name
            for name, status in statuses.items()
            if status in FINAL_STATUSES
            and agent is not None
            and execution_arn(state_machine_arn, name) not in agent.watcher.seen
        ]
        # An asynchronous task (StartSandbox's acquire) may still write after the execution ended.
        busy = agent is not None and agent.server.busy()
        if statuses and "RUNNING" not in statuses.values() and not unfinalized and not busy:
            return statuses
        assert time.monotonic() < deadline, f"{run_id} never settled: {statuses}, unfinalized {unfinalized}"
        time.sleep(0.05)


def execution_statuses(sfn: Any, arn: str, run_id: str) -> dict[str, str]:
    """The statuses of the run's executions (`<run_id>` and `<run_id>-<n>`) by name."""
    found: dict[str, str] = {}
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for execution in page["executions"]:
            name = execution["name"]
            if name == run_id or name.startswith(f"{run_id}-"):
                found[name] = execution["status"]
    return found

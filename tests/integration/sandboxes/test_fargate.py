"""The fargate backend against moto's ECS (RunTask, DescribeTasks, StopTask), with the real tool server
standing in, on 127.0.0.1, for the task at the private IP moto gave it (tests/support/fargate_sim.py).

The stand-in is started with the environment the task got through its container override, so the
secret's check really travels the way it does in AWS: RunTask override → the server's
SANDBOX_SECRET_SHA256 — only the digest, so DescribeTasks shows nothing anyone could authenticate with.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import httpx
import pytest

from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.domain import ids
from riadex.domain.errors import Unavailable
from tests.support.fargate_sim import SimulatedFargate


def test_a_task_per_sandbox_reached_at_its_private_ip_and_stopped_on_release(
    aws: dict[str, Any], fargate_sim: SimulatedFargate
) -> None:
    fargate = fargate_sim.backend(aws)
    sandbox_id, session_id, owner_id = ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr")
    handle = fargate.acquire(sandbox_id, session_id, owner_id)

    task = aws["ecs"].describe_tasks(cluster=aws["cluster"], tasks=[handle.ref])["tasks"][0]
    assert task["launchType"] == "FARGATE"
    assert task["lastStatus"] == "RUNNING"
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["subnetId"] == aws["subnet"]
    ip = details["privateIPv4Address"]
    assert ip in fargate_sim.by_ip  # the endpoint came from DescribeTasks' ENI attachment
    override = task["overrides"]["containerOverrides"][0]
    assert override["name"] == "sandbox"
    env = {e["name"]: e["value"] for e in override["environment"]}
    digest = hashlib.sha256(handle.secret.encode()).hexdigest()
    assert env["SANDBOX_SECRET_SHA256"] == digest == fargate_sim.env_by_ip[ip]["SANDBOX_SECRET_SHA256"]
    assert "SANDBOX_SECRET" not in env
    assert handle.secret not in str(task)
    tags = {t["key"]: t["value"] for t in aws["ecs"].list_tags_for_resource(resourceArn=handle.ref)["tags"]}
    assert tags == {"riadex.session": session_id, "riadex.owner": owner_id, "riadex.sandbox": sandbox_id}

    assert fargate.healthy(handle)
    out = HttpToolGateway().call(handle, "shell_exec", {"session_id": "default", "command": "echo from-task"})
    assert out["output"].strip() == "from-task"
    unauthorized = httpx.get(
        f"{handle.endpoint}/health", headers={"Authorization": "Bearer other"}, timeout=5
    )
    assert unauthorized.status_code == 401

    fargate.release(handle)
    stopped = aws["ecs"].describe_tasks(cluster=aws["cluster"], tasks=[handle.ref])["tasks"][0]
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stoppedReason"] == "released by riadex"
    fargate.release(handle)  # idempotent


def test_a_task_that_never_answers_is_stopped_and_reported(
    aws: dict[str, Any], fargate_sim: SimulatedFargate
) -> None:
    # No stand-in: the endpoint is the moto IP itself, where nothing listens.
    fargate = fargate_sim.backend(
        aws, endpoint_for=lambda ip, env: "http://127.0.0.1:9", start_timeout_seconds=1
    )
    with pytest.raises(Unavailable, match="did not become healthy"):
        fargate.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    tasks = aws["ecs"].list_tasks(cluster=aws["cluster"], desiredStatus="STOPPED")["taskArns"]
    assert len(tasks) == 1


def test_run_task_refusals_become_unavailable(aws: dict[str, Any], fargate_sim: SimulatedFargate) -> None:
    fargate = fargate_sim.backend(aws, task_definition="no-such-task-definition")
    with pytest.raises(Unavailable, match="could not start"):
        fargate.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1")  # moto, never AWS

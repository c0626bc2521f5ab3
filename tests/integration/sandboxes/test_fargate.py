"""The fargate backend against moto's ECS (RunTask, DescribeTasks, StopTask), with the real tool server
standing in, on 127.0.0.1, for the task at the private IP moto gave it.

The stand-in is started with the environment the task got through its container override, so the
secret's check really travels the way it does in AWS: RunTask override → the server's
SANDBOX_SECRET_SHA256 — only the digest, so DescribeTasks shows nothing anyone could authenticate with.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from riadex.adapters.sandbox.fargate.provider import FargateSandboxes
from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.domain import ids
from riadex.domain.errors import Unavailable


class StandIns:
    """Tool servers on 127.0.0.1, one per task, keyed by the task's private IP."""

    def __init__(self, server_dir: Path, workspace: Path) -> None:
        self.server_dir = server_dir
        self.workspace = workspace
        self.by_ip: dict[str, subprocess.Popen[bytes]] = {}
        self.env_by_ip: dict[str, dict[str, str]] = {}

    def __call__(self, ip: str, env: dict[str, str]) -> str:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox_server"],
            env={
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": str(self.server_dir),
                **env,
                "SANDBOX_HOST": "127.0.0.1",
                "SANDBOX_PORT": "0",
                "SANDBOX_WORKSPACE": str(self.workspace / ip),
                "SANDBOX_BROWSER": "0",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.by_ip[ip] = process
        self.env_by_ip[ip] = env
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("SANDBOX_READY port="), line
        threading.Thread(target=process.stdout.read, daemon=True).start()
        return f"http://127.0.0.1:{int(line.split('=', 1)[1])}"

    def stop_all(self) -> None:
        for process in self.by_ip.values():
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint: str) -> Iterator[dict[str, Any]]:
    # moto advances a task's status on every read (RUNNING → DEACTIVATING → … → STOPPED) unless told
    # otherwise; a task here stays RUNNING until StopTask, as a healthy Fargate task does.
    state = f"{moto_endpoint}/moto-api/state-manager"
    httpx.post(
        f"{state}/set-transition",
        json={"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000}},
    ).raise_for_status()
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's ENI needs it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName=f"sbx-{ids.new_id('sbx')}", Description="sandboxes", VpcId=vpc
    )
    ecs = boto3.client("ecs", region_name="us-east-1")
    cluster = f"riadex-test-{ids.new_id('sbx')[-12:]}"  # moto's state outlives a test: one cluster each
    ecs.create_cluster(clusterName=cluster)
    task_definition = ecs.register_task_definition(
        family="riadex-sandbox",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
        containerDefinitions=[
            {
                "name": "sandbox",
                "image": "riadex-sandbox:dev",
                "portMappings": [{"containerPort": 8080}],
                "cpu": 1024,
                "memory": 2048,  # moto sums container memory; Fargate itself needs only the task's
            }
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    yield {
        "ecs": ecs,
        "cluster": cluster,
        "subnet": subnet,
        "group": group["GroupId"],
        "task_definition": task_definition,
    }
    httpx.post(f"{state}/unset-transition", json={"model_name": "ecs::task"}).raise_for_status()


@pytest.fixture
def stand_ins(server_dir: Path, tmp_path: Path) -> Iterator[StandIns]:
    made = StandIns(server_dir, tmp_path / "workspaces")
    yield made
    made.stop_all()


def provider(aws: dict[str, Any], stand_ins: StandIns, **overrides: Any) -> FargateSandboxes:
    values: dict[str, Any] = {
        "ecs": aws["ecs"],
        "cluster": aws["cluster"],
        "task_definition": aws["task_definition"],
        "subnets": [aws["subnet"]],
        "security_groups": [aws["group"]],
        "start_timeout_seconds": 30,
        "poll_seconds": 0.05,
        "endpoint_for": stand_ins,
    }
    values.update(overrides)
    return FargateSandboxes(**values)


def test_a_task_per_sandbox_reached_at_its_private_ip_and_stopped_on_release(
    aws: dict[str, Any], stand_ins: StandIns
) -> None:
    fargate = provider(aws, stand_ins)
    sandbox_id, session_id, owner_id = ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr")
    handle = fargate.acquire(sandbox_id, session_id, owner_id)

    task = aws["ecs"].describe_tasks(cluster=aws["cluster"], tasks=[handle.ref])["tasks"][0]
    assert task["launchType"] == "FARGATE"
    assert task["lastStatus"] == "RUNNING"
    details = {d["name"]: d["value"] for d in task["attachments"][0]["details"]}
    assert details["subnetId"] == aws["subnet"]
    ip = details["privateIPv4Address"]
    assert ip in stand_ins.by_ip  # the endpoint came from DescribeTasks' ENI attachment
    override = task["overrides"]["containerOverrides"][0]
    assert override["name"] == "sandbox"
    env = {e["name"]: e["value"] for e in override["environment"]}
    digest = hashlib.sha256(handle.secret.encode()).hexdigest()
    assert env["SANDBOX_SECRET_SHA256"] == digest == stand_ins.env_by_ip[ip]["SANDBOX_SECRET_SHA256"]
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


def test_a_task_that_never_answers_is_stopped_and_reported(aws: dict[str, Any], stand_ins: StandIns) -> None:
    # No stand-in: the endpoint is the moto IP itself, where nothing listens.
    fargate = provider(
        aws, stand_ins, endpoint_for=lambda ip, env: "http://127.0.0.1:9", start_timeout_seconds=1
    )
    with pytest.raises(Unavailable, match="did not become healthy"):
        fargate.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    tasks = aws["ecs"].list_tasks(cluster=aws["cluster"], desiredStatus="STOPPED")["taskArns"]
    assert len(tasks) == 1


def test_run_task_refusals_become_unavailable(aws: dict[str, Any], stand_ins: StandIns) -> None:
    fargate = provider(aws, stand_ins, task_definition="no-such-task-definition")
    with pytest.raises(Unavailable, match="could not start"):
        fargate.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1")  # moto, never AWS

"""Fargate on the local machine: moto's ECS (RunTask, DescribeTasks, StopTask, TagResource) with the
real tool server standing in, on 127.0.0.1, for each task at the private IP moto gave it — for the
fargate backend's tests and the bench.

Each stand-in is started with the environment its task got through its container override, so what
travels to a task travels the way it does in AWS (a secret's digest, or a pooled task's pool-token
digest). What moto does not simulate is the start: its tasks are RUNNING the moment RunTask returns.
`start_delay` puts Fargate's start time back: a task's tool server answers only that many seconds
after its RunTask (AWS: 45-90 s); the wait happens where the backend first asks for the task's
endpoint, as it would while the task provisions.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from riadex.adapters.sandbox.fargate.provider import FargateSandboxes
from riadex.domain import ids


def prepare_ecs(moto_endpoint: str, ec2: Any, ecs: Any) -> dict[str, Any]:
    """A VPC, subnet, security group, cluster and task definition in moto; tasks stay RUNNING until
    stopped (moto would otherwise advance a task's status on every read: RUNNING → … → STOPPED).
    Returns the names the fargate backend needs."""
    httpx.post(
        f"{moto_endpoint}/moto-api/state-manager/set-transition",
        json={"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000}},
    ).raise_for_status()
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})  # moto's ENI needs it
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(
        GroupName=f"sbx-{ids.new_id('sbx')}", Description="sandboxes", VpcId=vpc
    )
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
    return {
        "ecs": ecs,
        "cluster": cluster,
        "subnet": subnet,
        "group": group["GroupId"],
        "task_definition": task_definition,
    }


def release_ecs(moto_endpoint: str) -> None:
    httpx.post(
        f"{moto_endpoint}/moto-api/state-manager/unset-transition", json={"model_name": "ecs::task"}
    ).raise_for_status()


class SimulatedFargate:
    """Stand-in tool servers, one per task, keyed by the task's private IP; `ecs` is moto's client
    with RunTask timed (for `start_delay`) and StopTask also stopping the task's stand-in."""

    def __init__(self, ecs: Any, server_dir: Path, workspace: Path, start_delay: float = 0.0) -> None:
        self.server_dir = server_dir
        self.workspace = workspace
        self.start_delay = start_delay
        self.ecs = _TimedEcs(ecs, self)
        self.by_ip: dict[str, subprocess.Popen[bytes]] = {}
        self.env_by_ip: dict[str, dict[str, str]] = {}
        self.started_at: dict[str, float] = {}
        self.ip_by_arn: dict[str, str] = {}
        self._lock = threading.Lock()

    def backend(self, aws: dict[str, Any], **overrides: Any) -> FargateSandboxes:
        """The fargate backend on moto's ECS (`aws`, from `prepare_ecs`) with these stand-ins as the
        tasks' endpoints; `overrides` are FargateSandboxes' own arguments (a pool, timeouts, ...)."""
        values: dict[str, Any] = {
            "ecs": self.ecs,
            "cluster": aws["cluster"],
            "task_definition": aws["task_definition"],
            "subnets": [aws["subnet"]],
            "security_groups": [aws["group"]],
            "start_timeout_seconds": 30,
            "poll_seconds": 0.05,
            "endpoint_for": self,
            **overrides,
        }
        return FargateSandboxes(**values)

    def __call__(self, ip: str, env: dict[str, str]) -> str:
        """The backend's `endpoint_for`: start this task's tool server (once its start time is up)."""
        ready_at = self.started_at.get(ip, 0.0) + self.start_delay
        time.sleep(max(0.0, ready_at - time.monotonic()))
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
        with self._lock:
            self.by_ip[ip] = process
            self.env_by_ip[ip] = env
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        assert line.startswith("SANDBOX_READY port="), line
        threading.Thread(target=process.stdout.read, daemon=True).start()
        return f"http://127.0.0.1:{int(line.split('=', 1)[1])}"

    def kill_server(self, task_arn: str) -> None:
        """The task's tool server dies; ECS has not noticed (the task still reads RUNNING)."""
        with self._lock:
            process = self.by_ip.get(self.ip_by_arn.get(task_arn, ""))
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def crash(self, task_arn: str) -> None:
        """The task dies and ECS says so (STOPPED, as an essential container's exit leaves it)."""
        self.kill_server(task_arn)
        self.ecs.inner.stop_task(
            cluster=self.ecs.cluster_of(task_arn), task=task_arn, reason="Essential container in task exited"
        )

    def stop_all(self) -> None:
        with self._lock:
            processes = list(self.by_ip.values())
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(10)


class _TimedEcs:
    def __init__(self, inner: Any, sim: SimulatedFargate) -> None:
        self.inner = inner
        self._sim = sim
        self._clusters: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def cluster_of(self, task_arn: str) -> str:
        return self._clusters[task_arn]

    def run_task(self, **kwargs: Any) -> Any:
        response = self.inner.run_task(**kwargs)
        for task in response.get("tasks") or []:
            for attachment in task.get("attachments") or []:
                details = {d["name"]: d["value"] for d in attachment.get("details") or []}
                ip = details.get("privateIPv4Address")
                if ip:
                    self._sim.started_at[ip] = time.monotonic()
                    self._sim.ip_by_arn[task["taskArn"]] = ip
            self._clusters[task["taskArn"]] = kwargs["cluster"]
        return response

    def stop_task(self, **kwargs: Any) -> Any:
        response = self.inner.stop_task(**kwargs)
        self._sim.kill_server(kwargs["task"])
        return response

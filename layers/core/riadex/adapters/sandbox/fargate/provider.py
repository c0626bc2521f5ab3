"""The `fargate` backend: one ECS Fargate task per session (awsvpc, no task role, no public IP).

Only the per-sandbox secret's SHA-256 travels, as a container override (SANDBOX_SECRET_SHA256): the
tool server needs nothing more to check the bearer secret, and whoever may DescribeTasks sees a digest
nobody can authenticate with (the task definition cannot hold it, one per sandbox, and the task has no
role to fetch anything). The sandbox security group only admits the Lambdas' security group on the
tool port, so the secret is a second lock, not the only one. Egress: the template's sandbox security
group (docs/sandboxes.md).

Fargate starts take 45-90 s: the agent loop acquires early (docs/architecture.md), and `start_timeout_seconds`
should be generous (180 s by default in the template).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from riadex.adapters.tools import server
from riadex.domain.errors import Unavailable
from riadex.domain.sandboxes import SandboxHandle

BACKEND = "fargate"
Endpoint = Callable[[str, dict[str, str]], str]
"""(private IP, the container's environment) → the tool server's base URL."""


@dataclass
class FargateSandboxes:
    ecs: Any
    cluster: str
    task_definition: str
    subnets: list[str]
    security_groups: list[str]
    container_name: str = "sandbox"
    port: int = 8080
    idle_timeout_seconds: int = 1800
    start_timeout_seconds: float = 180.0
    poll_seconds: float = 1.0
    endpoint_for: Endpoint | None = None
    """Where the tool server of a task at this IP answers; tests stand a local server in here."""
    _sleep: Callable[[float], None] = field(default=time.sleep)

    @property
    def backend(self) -> str:
        return BACKEND

    def acquire(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle:
        secret = secrets.token_urlsafe(32)
        environment = {
            "SANDBOX_SECRET_SHA256": hashlib.sha256(secret.encode()).hexdigest(),
            "SANDBOX_PORT": str(self.port),
            "SANDBOX_IDLE_TIMEOUT": str(self.idle_timeout_seconds),
        }
        try:
            response = self.ecs.run_task(
                cluster=self.cluster,
                taskDefinition=self.task_definition,
                launchType="FARGATE",
                count=1,
                startedBy=sandbox_id[:36],
                networkConfiguration={
                    "awsvpcConfiguration": {
                        "subnets": self.subnets,
                        "securityGroups": self.security_groups,
                        "assignPublicIp": "DISABLED",
                    }
                },
                overrides={
                    "containerOverrides": [
                        {
                            "name": self.container_name,
                            "environment": [{"name": k, "value": v} for k, v in environment.items()],
                        }
                    ]
                },
                tags=[
                    {"key": "riadex.session", "value": session_id},
                    {"key": "riadex.owner", "value": owner_id},
                    {"key": "riadex.sandbox", "value": sandbox_id},
                ],
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the sandbox task could not start: {exc}") from None
        if not response.get("tasks"):
            failures = response.get("failures") or []
            raise Unavailable(f"the sandbox task could not start: {failures}")
        task_arn = str(response["tasks"][0]["taskArn"])
        try:
            ip = self._wait_running(task_arn)
            endpoint = self.endpoint_for(ip, environment) if self.endpoint_for else f"http://{ip}:{self.port}"
            handle = SandboxHandle(
                backend=BACKEND, sandbox_id=sandbox_id, endpoint=endpoint, secret=secret, ref=task_arn
            )
            deadline = time.monotonic() + self.start_timeout_seconds
            if not server.wait_healthy(handle, deadline, alive=lambda: self._status(task_arn) != "STOPPED"):
                raise Unavailable("the sandbox task did not become healthy")
        except BaseException:
            self._stop(task_arn)
            raise
        return handle

    def _describe(self, task_arn: str) -> dict[str, Any] | None:
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn]).get("tasks") or []
        return tasks[0] if tasks else None

    def _status(self, task_arn: str) -> str:
        try:
            task = self._describe(task_arn)
        except (ClientError, BotoCoreError):
            return "UNKNOWN"
        return str(task.get("lastStatus", "UNKNOWN")) if task else "STOPPED"

    def _wait_running(self, task_arn: str) -> str:
        """Poll DescribeTasks until the task runs; its private IP from the ENI attachment."""
        deadline = time.monotonic() + self.start_timeout_seconds
        while time.monotonic() < deadline:
            task = self._describe(task_arn)
            status = task.get("lastStatus") if task else "STOPPED"
            if status == "STOPPED":
                reason = task.get("stoppedReason", "") if task else ""
                raise Unavailable(f"the sandbox task stopped while starting {reason}".strip())
            if status == "RUNNING" and task is not None:
                ip = _private_ip(task)
                if ip:
                    return ip
            self._sleep(self.poll_seconds)
        raise Unavailable("the sandbox task did not start in time")

    def healthy(self, handle: SandboxHandle) -> bool:
        return server.health(handle) is not None

    def release(self, handle: SandboxHandle) -> None:
        self._stop(handle.ref)

    def _stop(self, task_arn: str) -> None:
        try:  # noqa: SIM105
            self.ecs.stop_task(cluster=self.cluster, task=task_arn, reason="released by riadex")
        except (ClientError, BotoCoreError):
            pass  # already gone; the in-sandbox idle timer is the backstop


def _private_ip(task: dict[str, Any]) -> str | None:
    for attachment in task.get("attachments") or []:
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment.get("details") or []:
            if detail.get("name") == "privateIPv4Address":
                return str(detail["value"])
    return None

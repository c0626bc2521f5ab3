"""The `fargate` backend: one ECS Fargate task per session (awsvpc, no task role, no public IP).

Only the per-sandbox secret's SHA-256 travels, as a container override (SANDBOX_SECRET_SHA256): the
tool server needs nothing more to check the bearer secret, and whoever may DescribeTasks sees a digest
nobody can authenticate with (the task definition cannot hold it, one per sandbox, and the task has no
role to fetch anything). The sandbox security group only admits the Lambdas' security group on the
tool port, so the secret is a second lock, not the only one. Egress: the template's sandbox security
group (docs/sandboxes.md).

Fargate starts take 45-90 s: the agent loop acquires early (docs/architecture.md), and `start_timeout_seconds`
should be generous (180 s by default in the template).

A warm pool (`pool_size` > 0, SANDBOX_POOL_SIZE) keeps that many tasks started ahead, owned by nobody:
each is started with a pool token's digest (SANDBOX_POOL_TOKEN_SHA256) instead of a secret, so it
refuses tool calls. A session's acquire takes a member from the pool store (one conditional write:
nobody else gets it), presents the pool token to the task's `/claim` with its own secret's digest
(the pool token then stops working) and tags the task with the session; a member that does not take
the claim (dead, stopped) is stopped and the next one tried, and with none left the task is started
cold as without a pool. The claim starts the replacement (RunTask only: the task comes up in the
background); the reaper's `maintain` renews the members' leases, drops dead ones, stops those above
the size and starts what is missing. docs/sandboxes.md, "A warm pool".
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from riadex.adapters.tools import server
from riadex.application.sandbox_ports import SandboxPoolStore, SandboxUnreachable
from riadex.domain import ids
from riadex.domain.errors import InvalidInput, NotFound, StorageUnavailable, Unavailable
from riadex.domain.sandboxes import PoolEntry, SandboxHandle

BACKEND = "fargate"
POOL_STARTED_BY = "riadex-pool"
"""RunTask's startedBy for pooled tasks (a task started for a session has its sandbox id)."""
CLAIM_TIMEOUT = 10.0
logger = logging.getLogger(__name__)
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
    pool_size: int = 0
    """Tasks kept started ahead for sessions to claim (0: none, every acquire starts its task)."""
    pool_store: SandboxPoolStore | None = None
    _sleep: Callable[[float], None] = field(default=time.sleep)

    @property
    def backend(self) -> str:
        return BACKEND

    def acquire(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle:
        if self.pool_size > 0 and self.pool_store is not None:
            try:
                handle = self._claim_from_pool(sandbox_id, session_id, owner_id)
            except StorageUnavailable as exc:  # the pool is a shortcut: without it, start a task
                logger.warning("the warm pool could not be read: %s", exc)
                handle = None
            if handle is not None:
                return handle
        secret = secrets.token_urlsafe(32)
        environment = self._environment(SANDBOX_SECRET_SHA256=_sha256(secret))
        task_arn = self._run_task(
            environment, sandbox_id[:36], _session_tags(sandbox_id, session_id, owner_id)
        )
        try:
            endpoint = self._endpoint(task_arn)
            handle = SandboxHandle(
                backend=BACKEND, sandbox_id=sandbox_id, endpoint=endpoint, secret=secret, ref=task_arn
            )
            if not self._wait_healthy(handle):
                raise Unavailable("the sandbox task did not become healthy")
        except BaseException:
            self._stop(task_arn)
            raise
        return handle

    def _environment(self, **credentials: str) -> dict[str, str]:
        return {
            **credentials,
            "SANDBOX_PORT": str(self.port),
            "SANDBOX_IDLE_TIMEOUT": str(self.idle_timeout_seconds),
        }

    def _run_task(self, environment: dict[str, str], started_by: str, tags: list[dict[str, str]]) -> str:
        try:
            response = self.ecs.run_task(
                cluster=self.cluster,
                taskDefinition=self.task_definition,
                launchType="FARGATE",
                count=1,
                startedBy=started_by,
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
                tags=tags,
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable(f"the sandbox task could not start: {exc}") from None
        if not response.get("tasks"):
            failures = response.get("failures") or []
            raise Unavailable(f"the sandbox task could not start: {failures}")
        return str(response["tasks"][0]["taskArn"])

    def _endpoint(self, task_arn: str) -> str:
        """Where the task's tool server answers, once the task runs (waiting for that)."""
        return self._address(self._wait_running(task_arn))

    def _address(self, task: dict[str, Any]) -> str:
        ip = _private_ip(task) or ""
        if self.endpoint_for is None:
            return f"http://{ip}:{self.port}"
        return self.endpoint_for(ip, self._overridden_environment(task))

    def _overridden_environment(self, task: dict[str, Any]) -> dict[str, str]:
        for override in (task.get("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") == self.container_name:
                return {e["name"]: e["value"] for e in override.get("environment") or []}
        return {}

    def _wait_healthy(self, handle: SandboxHandle) -> bool:
        deadline = time.monotonic() + self.start_timeout_seconds
        return server.wait_healthy(handle, deadline, alive=lambda: self._status(handle.ref) != "STOPPED")

    def _describe(self, task_arn: str) -> dict[str, Any] | None:
        tasks = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn]).get("tasks") or []
        return tasks[0] if tasks else None

    def _status(self, task_arn: str) -> str:
        try:
            task = self._describe(task_arn)
        except (ClientError, BotoCoreError):
            return "UNKNOWN"
        return str(task.get("lastStatus", "UNKNOWN")) if task else "STOPPED"

    def _wait_running(self, task_arn: str) -> dict[str, Any]:
        """Poll DescribeTasks until the task runs with a private IP (from its ENI attachment)."""
        deadline = time.monotonic() + self.start_timeout_seconds
        while time.monotonic() < deadline:
            task = self._describe(task_arn)
            status = task.get("lastStatus") if task else "STOPPED"
            if status == "STOPPED":
                reason = task.get("stoppedReason", "") if task else ""
                raise Unavailable(f"the sandbox task stopped while starting {reason}".strip())
            if status == "RUNNING" and task is not None and _private_ip(task):
                return task
            self._sleep(self.poll_seconds)
        raise Unavailable("the sandbox task did not start in time")

    def healthy(self, handle: SandboxHandle) -> bool:
        return server.health(handle) is not None

    def release(self, handle: SandboxHandle) -> None:
        self._stop(handle.ref)

    def _stop(self, task_arn: str, reason: str = "released by riadex") -> None:
        try:  # noqa: SIM105
            self.ecs.stop_task(cluster=self.cluster, task=task_arn, reason=reason[:255])
        except (ClientError, BotoCoreError):
            pass  # already gone; the in-sandbox idle timer is the backstop

    # --- the warm pool ------------------------------------------------------------------------------

    def _claim_from_pool(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle | None:
        """A pooled task made this session's, or None when the pool has none that takes the claim.

        Members that answered the keeper come first, in random order (so concurrent claimers rarely
        reach for the same one); a member another caller took first is skipped. The replacement's
        RunTask and the task's session tags go on beside the claim and are done before this returns.
        """
        store = self.pool_store
        assert store is not None
        members = [entry for entry in store.entries() if entry.ref is not None]
        random.shuffle(members)
        members.sort(key=lambda entry: entry.endpoint is None)
        handle: SandboxHandle | None = None
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-pool") as beside:
            refilling = None
            for entry in members:
                if not store.take(entry.pool_id):
                    continue
                if refilling is None:
                    refilling = beside.submit(_logged, self.refill)
                try:
                    handle = self._claim(entry, store.token(entry), sandbox_id)
                except Unavailable as exc:
                    logger.warning("a pooled sandbox task was dropped: %s", exc, extra={"task": entry.ref})
                    self._stop(str(entry.ref), f"dropped from the warm pool: {exc}")
                    continue
                finally:
                    store.forget(entry)
                beside.submit(self._tag, handle.ref, _session_tags(sandbox_id, session_id, owner_id))
                break
            if handle is None or refilling is None:
                beside.submit(_logged, self.refill)
        return handle

    def _claim(self, entry: PoolEntry, token: str, sandbox_id: str) -> SandboxHandle:
        """Give a pooled task this sandbox's secret; Unavailable when it does not take it."""
        task_arn = str(entry.ref)
        endpoint = entry.endpoint or self._endpoint(task_arn)
        pooled = SandboxHandle(
            backend=BACKEND, sandbox_id=sandbox_id, endpoint=endpoint, secret=token, ref=task_arn
        )
        if entry.endpoint is None and not self._wait_healthy(pooled):
            raise Unavailable("the pooled task did not become healthy")
        secret = secrets.token_urlsafe(32)
        try:
            server.request(
                pooled, "POST", "/claim", json={"secret_sha256": _sha256(secret)}, timeout=CLAIM_TIMEOUT
            )
        except (SandboxUnreachable, InvalidInput, NotFound) as exc:
            raise Unavailable(f"the pooled task did not take the claim: {exc}") from None
        return SandboxHandle(
            backend=BACKEND, sandbox_id=sandbox_id, endpoint=endpoint, secret=secret, ref=task_arn
        )

    def _tag(self, task_arn: str, tags: list[dict[str, str]]) -> None:
        try:
            self.ecs.tag_resource(resourceArn=task_arn, tags=tags)
        except (ClientError, BotoCoreError) as exc:  # the tags are for people; the claim stands
            logger.warning("could not tag a claimed sandbox task: %s", exc, extra={"task": task_arn})

    def refill(self) -> int:
        """Start pooled tasks until the pool holds `pool_size` (RunTask only: they come up on their
        own). Each slot is reserved before its task starts, so concurrent refills never pass the size.
        Returns how many were started."""
        store = self.pool_store
        if store is None or self.pool_size <= 0:
            return 0
        started = 0
        for _ in range(self.pool_size - len(store.entries())):
            pool_id, token = ids.new_id("pool"), secrets.token_urlsafe(32)
            reserved = store.reserve(pool_id, token, datetime.now(UTC), self.pool_size)
            if reserved is None:
                break
            environment = self._environment(SANDBOX_POOL_TOKEN_SHA256=_sha256(token))
            try:
                task_arn = self._run_task(
                    environment, POOL_STARTED_BY, [{"key": "riadex.pool", "value": pool_id}]
                )
            except Unavailable as exc:
                logger.warning("the warm pool could not start a task: %s", exc)
                self._drop(reserved, str(exc))
                break
            if not store.started(pool_id, task_arn):  # dropped meanwhile (its slot looked abandoned)
                self._stop(task_arn, "dropped from the warm pool")
                continue
            started += 1
        return started

    def maintain(self) -> dict[str, int]:
        """The reaper's round: renew each member's lease (a health check with its pool token: the
        tool server counts it as activity), record where it answers, drop the dead and the ones that
        did not come up within the start timeout, stop those above `pool_size`, then refill."""
        store = self.pool_store
        done: Counter[str] = Counter()
        if store is None:
            return dict(done)
        members = sorted(store.entries(), key=lambda entry: (entry.endpoint is None, entry.started_at))
        for extra in members[max(self.pool_size, 0) :]:
            done["stopped_extra"] += self._drop(extra, "above the warm pool's size")
        members = members[: max(self.pool_size, 0)]
        tasks = self._describe_all([str(entry.ref) for entry in members if entry.ref is not None])
        for entry in members:
            age = (datetime.now(UTC) - entry.started_at).total_seconds()
            late = age > self.start_timeout_seconds
            task = tasks.get(entry.ref) if entry.ref is not None else None
            if entry.ref is not None and (task is None or task.get("lastStatus") == "STOPPED"):
                done["dropped"] += self._drop(entry, "the task stopped")
                continue
            if task is None or task.get("lastStatus") != "RUNNING" or not _private_ip(task):
                if late:
                    done["dropped"] += self._drop(entry, "it did not start in time")
                else:
                    done["starting"] += 1
                continue
            endpoint = entry.endpoint or self._address(task)
            pooled = SandboxHandle(
                backend=BACKEND,
                sandbox_id=entry.pool_id,
                endpoint=endpoint,
                secret=store.token(entry),
                ref=str(entry.ref),
            )
            if server.health(pooled) is not None:
                if entry.endpoint is None:
                    store.answered(entry.pool_id, endpoint)
                done["ready"] += 1
            elif late or entry.endpoint is not None:  # never came up, or stopped answering
                done["dropped"] += self._drop(entry, "it does not answer")
            else:
                done["starting"] += 1
        done["started"] = self.refill()
        return dict(done)

    def _describe_all(self, task_arns: list[str]) -> dict[str, dict[str, Any]]:
        """DescribeTasks by the hundred (its limit); a task it does not know is absent."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(task_arns), 100):
            response = self.ecs.describe_tasks(cluster=self.cluster, tasks=task_arns[start : start + 100])
            found.update({str(task["taskArn"]): task for task in response.get("tasks") or []})
        return found

    def _drop(self, entry: PoolEntry, reason: str) -> int:
        """Take a member out of the pool and stop its task; 0 when someone else took it first."""
        store = self.pool_store
        if store is None or not store.take(entry.pool_id):
            return 0
        store.forget(entry)
        if entry.ref is not None:
            self._stop(entry.ref, f"dropped from the warm pool: {reason}")
        logger.info("dropped a pooled sandbox task: %s", reason, extra={"task": entry.ref})
        return 1


def _logged(work: Callable[[], object]) -> None:
    """Work done beside a claim: its failure is logged, not the claim's (the reaper refills later)."""
    try:
        work()
    except Exception:
        logger.exception("the warm pool's refill failed")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _session_tags(sandbox_id: str, session_id: str, owner_id: str) -> list[dict[str, str]]:
    return [
        {"key": "riadex.session", "value": session_id},
        {"key": "riadex.owner", "value": owner_id},
        {"key": "riadex.sandbox", "value": sandbox_id},
    ]


def _private_ip(task: dict[str, Any]) -> str | None:
    for attachment in task.get("attachments") or []:
        if attachment.get("type") != "ElasticNetworkInterface":
            continue
        for detail in attachment.get("details") or []:
            if detail.get("name") == "privateIPv4Address":
                return str(detail["value"])
    return None

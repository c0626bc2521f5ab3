"""The fargate backend's warm pool on moto's ECS with real tool servers standing in for the tasks
(tests/support/fargate_sim.py) and the pool kept in the sessions table (moto's DynamoDB).

What is checked: a pooled task starts without any secret and refuses tool calls; a session's acquire
claims one atomically (concurrent acquires never share a task) and installs the session's secret,
after which the pool token no longer works; refills keep the pool at its size, never above; a dead
pooled task is dropped and replaced, never handed out; the keeper stops members above the size; and a
size of 0 is the backend without a pool.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import httpx
import pytest

from riadex.adapters import call_record
from riadex.adapters.dynamodb import tables
from riadex.adapters.dynamodb.sandbox_pool import DynamoSandboxPool
from riadex.adapters.dynamodb.sandbox_records import DynamoSandboxRecords
from riadex.adapters.sandbox.fargate.provider import POOL_STARTED_BY, FargateSandboxes
from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.application.sandboxes import Sandboxes
from riadex.bootstrap import bind_tables
from riadex.config import Settings
from riadex.domain import ids
from riadex.domain.sandboxes import SandboxHandle
from riadex.entrypoints.scheduled.reaper import reap
from tests.support.fargate_sim import SimulatedFargate
from tests.unit.sandbox_fakes import FakeSandboxEvents


@pytest.fixture
def aws(aws: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """ECS in moto (the sandboxes conftest's), and the tables the pool is kept in."""
    bind_tables(settings)
    tables.create_all()
    return aws


def fargate(aws: dict[str, Any], sim: SimulatedFargate, size: int) -> FargateSandboxes:
    return sim.backend(aws, pool_size=size, pool_store=DynamoSandboxPool(aws["task_definition"]))


def acquire(provider: FargateSandboxes) -> SandboxHandle:
    return provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))


def task(aws: dict[str, Any], arn: str) -> dict[str, Any]:
    found: dict[str, Any] = aws["ecs"].describe_tasks(cluster=aws["cluster"], tasks=[arn])["tasks"][0]
    return found


def environment(described: dict[str, Any]) -> dict[str, str]:
    override = described["overrides"]["containerOverrides"][0]
    return {e["name"]: e["value"] for e in override["environment"]}


def running(aws: dict[str, Any], started_by: str | None = None) -> set[str]:
    kwargs = {"startedBy": started_by} if started_by else {}
    arns = aws["ecs"].list_tasks(cluster=aws["cluster"], desiredStatus="RUNNING", **kwargs)["taskArns"]
    return set(arns)


def shell(handle: SandboxHandle, command: str) -> str:
    out = HttpToolGateway().call(handle, "shell_exec", {"session_id": "default", "command": command})
    return str(out["output"]).strip()


def status(url: str, token: str, path: str = "/health") -> int:
    if path == "/health":
        return httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code
    body = {"session_id": "s", "command": "echo hi"}
    return httpx.post(
        url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).status_code


def test_pool_size_zero_is_the_backend_without_a_pool(
    aws: dict[str, Any], fargate_sim: SimulatedFargate
) -> None:
    provider = fargate(aws, fargate_sim, size=0)
    handle = acquire(provider)
    described = task(aws, handle.ref)
    assert described["startedBy"] == handle.sandbox_id[:36]
    assert (
        environment(described)["SANDBOX_SECRET_SHA256"] == hashlib.sha256(handle.secret.encode()).hexdigest()
    )
    assert provider.maintain() == {"started": 0}
    assert provider.pool_store is not None
    assert provider.pool_store.entries() == []
    assert running(aws) == {handle.ref}
    assert shell(handle, "echo cold") == "cold"


def test_a_pooled_task_has_no_secret_until_a_session_claims_it(
    aws: dict[str, Any], fargate_sim: SimulatedFargate
) -> None:
    provider = fargate(aws, fargate_sim, size=2)
    store = provider.pool_store
    assert store is not None
    assert provider.maintain() == {"started": 2}
    assert provider.maintain() == {"ready": 2, "started": 0}  # both answered their pool token
    members = store.entries()
    assert len(members) == 2
    assert all(m.endpoint for m in members)
    pooled = {str(m.ref): m for m in members}
    assert running(aws, POOL_STARTED_BY) == set(pooled)
    for arn, member in pooled.items():
        env = environment(task(aws, arn))
        assert set(env) == {"SANDBOX_POOL_TOKEN_SHA256", "SANDBOX_PORT", "SANDBOX_IDLE_TIMEOUT"}
        token = store.token(member)
        assert env["SANDBOX_POOL_TOKEN_SHA256"] == hashlib.sha256(token.encode()).hexdigest()
        assert token not in str(task(aws, arn))
        # Unclaimed: the pool token answers health, and no tool call.
        assert status(str(member.endpoint), token) == 200
        assert status(str(member.endpoint), token, "/shell/exec") == 403

    sandbox_id, session_id, owner_id = ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr")
    handle = provider.acquire(sandbox_id, session_id, owner_id)
    assert handle.ref in pooled
    claimed = pooled[handle.ref]
    assert shell(handle, "echo warm") == "warm"
    # The pool token is spent: not a tool call, not a health check, not a second claim.
    token = store.token(claimed) if claimed.token else ""
    assert token
    assert status(handle.endpoint, token) == 401
    assert status(handle.endpoint, token, "/shell/exec") == 401
    assert handle.secret not in str(task(aws, handle.ref))
    tags = {t["key"]: t["value"] for t in aws["ecs"].list_tags_for_resource(resourceArn=handle.ref)["tags"]}
    assert tags["riadex.session"] == session_id
    assert tags["riadex.owner"] == owner_id
    assert tags["riadex.sandbox"] == sandbox_id
    # Refilled at once: two unclaimed members again, the claimed one not among them.
    after = store.entries()
    assert len(after) == 2
    assert handle.ref not in {m.ref for m in after}
    assert running(aws, POOL_STARTED_BY) == {handle.ref} | {str(m.ref) for m in after}

    provider.release(handle)
    assert task(aws, handle.ref)["lastStatus"] == "STOPPED"


def test_concurrent_acquires_never_share_a_task(aws: dict[str, Any], fargate_sim: SimulatedFargate) -> None:
    provider = fargate(aws, fargate_sim, size=3)
    provider.maintain()
    provider.maintain()
    assert provider.pool_store is not None
    warm = {str(m.ref) for m in provider.pool_store.entries()}
    assert len(warm) == 3
    handles: list[SandboxHandle] = []
    errors: list[BaseException] = []
    go = threading.Barrier(6)

    def one() -> None:
        go.wait()
        try:
            handles.append(acquire(provider))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    refs = [h.ref for h in handles]
    assert len(set(refs)) == 6, refs  # six sessions, six tasks
    assert warm <= set(refs)  # the three warm ones went, each to one session
    for handle in handles:
        assert shell(handle, "echo $((1 + 1))") == "2"
        for other in handles:
            if other is not handle:
                assert status(handle.endpoint, other.secret) == 401
    members = provider.pool_store.entries()
    assert len(members) <= 3
    assert {str(m.ref) for m in members}.isdisjoint(refs)


def test_a_dead_pooled_task_is_dropped_and_replaced_not_handed_out(
    aws: dict[str, Any], fargate_sim: SimulatedFargate
) -> None:
    provider = fargate(aws, fargate_sim, size=1)
    store = provider.pool_store
    assert store is not None
    provider.maintain()
    provider.maintain()
    (dead,) = store.entries()
    fargate_sim.kill_server(str(dead.ref))  # its server is gone; ECS still reads RUNNING

    handle = acquire(provider)
    assert handle.ref != dead.ref
    assert shell(handle, "echo alive") == "alive"
    stopped = task(aws, str(dead.ref))
    assert stopped["desiredStatus"] == "STOPPED"
    assert stopped["stoppedReason"].startswith("dropped from the warm pool")
    (replacement,) = store.entries()
    assert replacement.ref not in (dead.ref, handle.ref)

    # A member that dies between claims (ECS notices) is dropped by the keeper and replaced.
    provider.maintain()
    fargate_sim.crash(str(replacement.ref))
    assert provider.maintain() == {"dropped": 1, "started": 1}
    (fresh,) = store.entries()
    assert fresh.ref != replacement.ref
    assert acquire(provider).ref == fresh.ref


def test_the_keeper_stops_members_above_the_size(aws: dict[str, Any], fargate_sim: SimulatedFargate) -> None:
    fargate(aws, fargate_sim, size=3).maintain()
    smaller = fargate(aws, fargate_sim, size=1)
    assert smaller.maintain() == {"stopped_extra": 2, "ready": 1, "started": 0}
    assert smaller.pool_store is not None
    assert len(smaller.pool_store.entries()) == 1
    assert len(running(aws, POOL_STARTED_BY)) == 1
    off = fargate(aws, fargate_sim, size=0)
    assert off.maintain() == {"stopped_extra": 1, "started": 0}
    assert running(aws, POOL_STARTED_BY) == set()


def test_the_scheduled_reaper_keeps_the_pool(
    aws: dict[str, Any], fargate_sim: SimulatedFargate, settings: Settings
) -> None:
    # The template tier checks the reaper's calls against its function's rights through the names its
    # configuration gave it (a bootstrap records them): this reaper is built by hand, so record its own.
    call_record.install()
    call_record.bindings(
        {
            **{
                name.upper(): value
                for name, value in settings.model_dump().items()
                if name.endswith("_table")
            },
            "SANDBOX_CLUSTER": aws["cluster"],
            "SANDBOX_TASK_DEFINITION": aws["task_definition"],
        }
    )
    provider = fargate(aws, fargate_sim, size=2)
    sandboxes = Sandboxes(
        records=DynamoSandboxRecords(), provider=provider, events=FakeSandboxEvents(), tools=HttpToolGateway()
    )
    reap(sandboxes, idle_seconds=3600)
    assert provider.pool_store is not None
    assert len(provider.pool_store.entries()) == 2
    assert len(running(aws, POOL_STARTED_BY)) == 2

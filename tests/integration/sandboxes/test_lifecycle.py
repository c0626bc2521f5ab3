"""The lifecycle on the real parts: session items in DynamoDB (moto), the process backend running the
real tool server. Concurrent first uses, a sandbox killed behind a live session, release and reaping,
and secrets kept in SSM Parameter Store."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from riadex.adapters.dynamodb import tables
from riadex.adapters.dynamodb.repositories import DynamoSessionRepository
from riadex.adapters.dynamodb.sandbox_records import DynamoSandboxRecords, SsmSecrets
from riadex.adapters.sandbox.process.provider import ProcessSandboxes
from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.application.sandboxes import Sandboxes
from riadex.application.sessions import create_session
from riadex.bootstrap import bootstrap
from riadex.config import Settings
from riadex.domain.sandboxes import SandboxRecord, SandboxStatus
from tests.integration.sandboxes.conftest import process_sandboxes
from tests.unit.sandbox_fakes import FakeSandboxEvents

OWNER = "usr_" + "1" * 32


@pytest.fixture
def provider(server_dir: Path, tmp_path: Path) -> Iterator[ProcessSandboxes]:
    made = process_sandboxes(server_dir, tmp_path / "sandboxes")
    yield made
    made.release_all()


@pytest.fixture
def sandboxes(settings: Settings, provider: ProcessSandboxes) -> Sandboxes:
    bootstrap(settings)
    tables.create_all()
    return Sandboxes(
        records=DynamoSandboxRecords(),
        provider=provider,
        events=FakeSandboxEvents(),
        tools=HttpToolGateway(),
        poll_seconds=0.05,
    )


def new_session() -> str:
    return create_session(OWNER, "t", DynamoSessionRepository(), 200).session_id


def statuses(sandboxes: Sandboxes, session_id: str) -> list[str]:
    events = sandboxes.events
    assert isinstance(events, FakeSandboxEvents)
    return events.statuses(session_id)


def test_first_use_starts_a_sandbox_that_later_uses_reuse(sandboxes: Sandboxes) -> None:
    sid = new_session()
    out = sandboxes.call_tool(sid, OWNER, "shell_exec", {"session_id": "default", "command": "echo one > f"})
    assert out["exit_code"] == 0
    again = sandboxes.call_tool(sid, OWNER, "file_read", {"file": "f"})
    assert again["content"] == "one\n"
    assert statuses(sandboxes, sid) == ["provisioning", "ready"]
    session = DynamoSessionRepository().get(sid)
    assert session is not None
    assert session.sandbox is not None
    assert (session.sandbox.status, session.sandbox.backend) == ("ready", "process")


def test_a_second_claim_on_the_same_slot_is_refused_by_the_table(sandboxes: Sandboxes) -> None:
    """The guarantee behind "two concurrent first uses start one sandbox": the conditional write.

    Racing threads against moto would prove nothing (its server applies writes without a lock, so it
    can let two conditional writes through where DynamoDB never would); the race itself is exercised
    against the fakes in tests/unit/test_sandboxes.py. Here: the condition, on the real table.
    """
    sid = new_session()
    records = sandboxes.records

    def claim(sandbox_id: str, expected: str | None) -> bool:
        now = sandboxes.clock()
        record = SandboxRecord(sid, OWNER, sandbox_id, "process", SandboxStatus.PROVISIONING, now, now)
        return records.claim(record, expected)

    assert claim("sbx_" + "a" * 32, None)
    assert not claim("sbx_" + "b" * 32, None)  # someone got there first
    assert not claim("sbx_" + "c" * 32, "sbx_" + "9" * 32)  # a stale view of the slot
    assert claim("sbx_" + "d" * 32, "sbx_" + "a" * 32)  # taking over the slot one saw
    record = records.get(sid)
    assert record is not None
    assert record.sandbox_id == "sbx_" + "d" * 32

    # And a deleted session can be claimed by nobody.
    DynamoSessionRepository().delete(sid)
    assert not claim("sbx_" + "e" * 32, "sbx_" + "d" * 32)


@pytest.fixture(params=["process", "docker"])
def any_backend(
    request: pytest.FixtureRequest, settings: Settings, server_dir: Path, tmp_path: Path
) -> Iterator[Sandboxes]:
    if request.param == "process":
        provider: Any = process_sandboxes(server_dir, tmp_path / "sandboxes")
    else:
        docker_host, image = request.getfixturevalue("podman_image")
        import docker

        from riadex.adapters.sandbox.docker.provider import DockerSandboxes

        provider = DockerSandboxes(client=docker.DockerClient(base_url=docker_host, timeout=60), image=image)
    bootstrap(settings)
    tables.create_all()
    yield Sandboxes(
        records=DynamoSandboxRecords(),
        provider=provider,
        events=FakeSandboxEvents(),
        tools=HttpToolGateway(),
    )
    provider.release_all()


def kill_behind_its_back(sandboxes: Sandboxes, ref: str) -> None:
    provider: Any = sandboxes.provider
    if sandboxes.provider.backend == "process":
        os.killpg(int(ref), signal.SIGKILL)
        os.waitpid(int(ref), 0)
    else:
        container = provider.client.containers.get(ref)
        container.kill()
        container.wait(timeout=30)  # kill only sends the signal: be sure it is gone before the next use


def test_a_killed_sandbox_is_lost_and_the_next_use_gets_a_fresh_one(any_backend: Sandboxes) -> None:
    sandboxes = any_backend
    sid = new_session()
    old = sandboxes.ensure(sid, OWNER)
    kill_behind_its_back(sandboxes, old.ref)
    out = sandboxes.call_tool(sid, OWNER, "shell_exec", {"session_id": "default", "command": "echo fresh"})
    assert out["output"].strip() == "fresh"
    assert statuses(sandboxes, sid) == ["provisioning", "ready", "lost", "provisioning", "ready"]
    record = sandboxes.records.get(sid)
    assert record is not None
    assert record.sandbox_id != old.sandbox_id
    assert record.status is SandboxStatus.READY


def test_release_and_the_reaper_stop_sandboxes(sandboxes: Sandboxes) -> None:
    kept, idle = new_session(), new_session()
    kept_handle = sandboxes.ensure(kept, OWNER)
    idle_handle = sandboxes.ensure(idle, OWNER)
    assert sandboxes.reap_idle(idle_seconds=3600) == []

    sandboxes.records.touch(kept, kept_handle.sandbox_id, sandboxes.clock())
    reaped = sandboxes.reap_idle(idle_seconds=0)
    assert set(reaped) == {kept, idle}
    assert not sandboxes.provider.healthy(idle_handle)
    assert statuses(sandboxes, idle)[-1] == "released"

    again = sandboxes.ensure(idle, OWNER)
    assert again.sandbox_id != idle_handle.sandbox_id
    assert sandboxes.release(idle) is True
    assert not sandboxes.provider.healthy(again)
    record = sandboxes.records.get(idle)
    assert record is not None
    assert record.status is SandboxStatus.RELEASED
    assert record.handle is None


def test_in_ssm_mode_the_secret_is_a_securestring_and_never_in_the_item(
    settings: Settings, provider: ProcessSandboxes
) -> None:
    bootstrap(settings)
    tables.create_all()
    ssm = boto3.client("ssm", region_name="us-east-1")
    sandboxes = Sandboxes(
        records=DynamoSandboxRecords(SsmSecrets(ssm, "/riadex/test/sandboxes")),
        provider=provider,
        events=FakeSandboxEvents(),
        tools=HttpToolGateway(),
    )
    sid = new_session()
    handle = sandboxes.ensure(sid, OWNER)
    raw = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=settings.sessions_table, Key={"session_id": {"S": sid}}
    )["Item"]["sandbox"]["M"]
    assert "secret" not in raw
    name = raw["secret_ref"]["S"]
    assert name == f"/riadex/test/sandboxes/{handle.sandbox_id}"
    parameter = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString"
    assert parameter["Value"] == handle.secret
    assert handle.secret not in str(raw)

    # A fresh reader (another Lambda) gets the secret from SSM and reaches the sandbox with it.
    reader = DynamoSandboxRecords(SsmSecrets(ssm, "/riadex/test/sandboxes")).get(sid)
    assert reader is not None
    assert reader.handle is not None
    assert reader.handle.secret == handle.secret
    assert provider.healthy(reader.handle)

    sandboxes.release(sid)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=name)

"""A session's files outlive its sandbox, on the real parts: the process backend's tool server, the
session items in DynamoDB and the workspace archive in S3 (moto for both).

Reaped → saved, and the next use restores them; killed mid-session → the next use gets a new sandbox
with the files of the last save (after the last act); a workspace over the cap is not saved and the
`sandbox` event says so; an unchanged workspace is not saved again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riadex.adapters.dynamodb import tables
from riadex.adapters.dynamodb.repositories import DynamoSessionRepository
from riadex.adapters.dynamodb.sandbox_records import DynamoSandboxRecords
from riadex.adapters.sandbox.process.provider import ProcessSandboxes
from riadex.adapters.storage.s3 import S3ObjectStore
from riadex.adapters.tools.gateway import HttpToolGateway, HttpWorkspaceTransfer
from riadex.application.sandboxes import Sandboxes
from riadex.application.sessions import create_session
from riadex.application.workspaces import Workspaces, workspace_key
from riadex.bootstrap import bootstrap
from riadex.config import Settings
from riadex.domain.sandboxes import SandboxStatus
from riadex.entrypoints.local.agent_workflow import ensure_bucket
from tests.integration.sandboxes.conftest import process_sandboxes

OWNER = "usr_" + "2" * 32


class RecordedEvents:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def emit(
        self,
        session_id: str,
        sandbox_id: str,
        status: SandboxStatus,
        backend: str,
        run_id: str | None = None,
        workspace: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> None:
        self.seen.append({"sandbox": sandbox_id, "status": status.value, "workspace": workspace})

    def workspaces(self) -> list[tuple[str, str | None]]:
        return [(e["status"], (e["workspace"] or {}).get("action")) for e in self.seen]


@pytest.fixture
def provider(server_dir: Path, tmp_path: Path) -> Iterator[ProcessSandboxes]:
    made = process_sandboxes(server_dir, tmp_path / "sandboxes", network="none")
    yield made
    made.release_all()


@pytest.fixture
def store(settings: Settings) -> S3ObjectStore:
    bootstrap(settings)
    tables.create_all()
    bucket = f"ws-{os.getpid()}-{time.monotonic_ns()}"
    ensure_bucket(settings.aws_region, bucket)
    return S3ObjectStore(bucket, settings.aws_region)


def make(provider: Any, store: S3ObjectStore, max_bytes: int = 64 * 1024 * 1024) -> Sandboxes:
    return Sandboxes(
        records=DynamoSandboxRecords(),
        provider=provider,
        events=RecordedEvents(),
        tools=HttpToolGateway(),
        poll_seconds=0.05,
        workspaces=Workspaces(HttpWorkspaceTransfer(), store, max_bytes),
    )


def events(sandboxes: Sandboxes) -> RecordedEvents:
    assert isinstance(sandboxes.events, RecordedEvents)
    return sandboxes.events


def shell(sandboxes: Sandboxes, sid: str, command: str) -> str:
    out = sandboxes.call_tool(
        sid, OWNER, "shell_exec", {"session_id": "t", "command": command, "timeout": 60}
    )
    return str(out["output"])


@pytest.fixture(params=["process", "docker"])
def any_provider(request: pytest.FixtureRequest, provider: ProcessSandboxes) -> Iterator[Any]:
    if request.param == "process":
        yield provider
        return
    import docker

    from riadex.adapters.sandbox.docker.provider import DockerSandboxes

    docker_host, image = request.getfixturevalue("podman_image")
    made = DockerSandboxes(
        client=docker.DockerClient(base_url=docker_host, timeout=60), image=image, network="none"
    )
    yield made
    made.release_all()


def test_reaped_then_reopened_finds_its_files(any_provider: Any, store: S3ObjectStore) -> None:
    sandboxes = make(any_provider, store)
    sid = create_session(OWNER, "t", DynamoSessionRepository(), 200).session_id
    shell(
        sandboxes,
        sid,
        "mkdir -p src && echo 'print(42)' > src/main.py && chmod +x src/main.py && ln -s src/main.py m",
    )
    sandboxes.call_tool(sid, OWNER, "file_write", {"file": "notes/todo.md", "content": "- ship it\n"})
    assert sandboxes.reap_idle(idle_seconds=0) == [sid]
    assert events(sandboxes).workspaces()[-1] == ("released", "saved")
    assert store.head(workspace_key(sid)) is not None

    out = shell(
        sandboxes, sid, "cat src/main.py notes/todo.md; test -x src/main.py && echo exec; readlink m; id -u"
    )
    assert "print(42)" in out
    assert "- ship it" in out
    assert "exec" in out  # modes survive
    assert "src/main.py" in out  # and symlinks
    assert events(sandboxes).workspaces()[-1] == ("ready", "restored")
    # The restored files are the agent's own: it can change and remove them.
    assert "rm-ok" in shell(sandboxes, sid, "rm -r notes src m && echo rm-ok")


def test_a_sandbox_killed_mid_session_is_replaced_with_the_last_saved_files(
    provider: ProcessSandboxes, store: S3ObjectStore
) -> None:
    sandboxes = make(provider, store)
    sid = create_session(OWNER, "t", DynamoSessionRepository(), 200).session_id
    shell(sandboxes, sid, "echo step-one > one.txt")
    assert sandboxes.save_workspace(sid) == {"action": "saved", "bytes": 9}  # what the loop does after an act
    assert sandboxes.save_workspace(sid) is None  # unchanged: not saved again
    record = DynamoSandboxRecords().get(sid)
    assert record is not None
    assert record.handle is not None
    os.killpg(int(record.handle.ref), signal.SIGKILL)
    os.waitpid(int(record.handle.ref), 0)

    # The next use finds it dead, marks it lost, starts a new one and restores the files into it.
    assert "step-one" in shell(sandboxes, sid, "cat one.txt")
    assert events(sandboxes).workspaces()[-3:] == [
        ("lost", None),
        ("provisioning", None),
        ("ready", "restored"),
    ]


def test_a_workspace_over_the_cap_is_not_saved_and_the_event_says_so(
    provider: ProcessSandboxes, store: S3ObjectStore
) -> None:
    sandboxes = make(provider, store, max_bytes=64 * 1024)
    sid = create_session(OWNER, "t", DynamoSessionRepository(), 200).session_id
    shell(sandboxes, sid, "echo small > a.txt")
    assert sandboxes.save_workspace(sid) == {"action": "saved", "bytes": 6}
    shell(sandboxes, sid, "head -c 200000 /dev/urandom > big.bin")
    skipped = sandboxes.save_workspace(sid)
    assert skipped is not None
    assert skipped["action"] == "skipped"
    assert skipped["bytes"] == 200006
    assert "SANDBOX_WORKSPACE_MAX_BYTES" in skipped["reason"]
    assert ("ready", "skipped") in events(sandboxes).workspaces()

    sandboxes.reap_idle(idle_seconds=0)
    assert events(sandboxes).workspaces()[-1] == ("released", "skipped")
    out = shell(sandboxes, sid, "ls")
    assert "a.txt" in out  # the last save that fitted
    assert "big.bin" not in out

"""A sandbox's head start and the first tool call are one acquire, on every backend (docs/sandboxes.md,
"When a sandbox starts"): the state machine starts the session's sandbox without waiting for it
while the first step thinks, and that step's tool call, arriving while it still provisions, waits for
it instead of starting a second one. Session items in DynamoDB (moto); the process backend, the
docker backend on podman, and fargate on moto's ECS with the real tool server standing in (with a
start delay, so the call really arrives while the task starts)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from riadex.adapters.dynamodb import tables
from riadex.adapters.dynamodb.sandbox_records import DynamoSandboxRecords
from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.application.sandboxes import Sandboxes
from riadex.bootstrap import bootstrap
from riadex.config import Settings
from tests.integration.sandboxes.conftest import process_sandboxes
from tests.integration.sandboxes.test_lifecycle import OWNER, new_session, statuses
from tests.support.fargate_sim import SimulatedFargate
from tests.unit.sandbox_fakes import FakeSandboxEvents


@pytest.fixture(params=["process", "docker", "fargate"])
def backend(
    request: pytest.FixtureRequest, settings: Settings, server_dir: Path, tmp_path: Path
) -> Iterator[Sandboxes]:
    stand_ins: SimulatedFargate | None = None
    if request.param == "process":
        made: Any = process_sandboxes(server_dir, tmp_path / "sandboxes")
    elif request.param == "docker":
        docker_host, image = request.getfixturevalue("podman_image")
        import docker

        from riadex.adapters.sandbox.docker.provider import DockerSandboxes

        made = DockerSandboxes(client=docker.DockerClient(base_url=docker_host, timeout=60), image=image)
    else:
        ecs = request.getfixturevalue("aws")
        stand_ins = SimulatedFargate(ecs["ecs"], server_dir, tmp_path / "workspaces", start_delay=1.0)
        made = stand_ins.backend(ecs)
    bootstrap(settings)
    tables.create_all()
    yield Sandboxes(
        records=DynamoSandboxRecords(),
        provider=made,
        events=FakeSandboxEvents(),
        tools=HttpToolGateway(),
        poll_seconds=0.05,
    )
    if stand_ins is not None:
        stand_ins.stop_all()
    else:
        made.release_all()


def test_the_head_start_and_the_first_tool_call_start_one_sandbox(backend: Sandboxes) -> None:
    sid = new_session()
    with ThreadPoolExecutor(1) as pool:
        head_start = pool.submit(backend.ensure, sid, OWNER)
        deadline = time.monotonic() + 30
        while backend.records.get(sid) is None:  # the head start has claimed the session's slot
            assert time.monotonic() < deadline, "the head start never claimed the slot"
            time.sleep(0.01)
        out = backend.call_tool(sid, OWNER, "shell_exec", {"session_id": "default", "command": "echo one"})
        started = head_start.result(timeout=120)
    assert out["output"].strip() == "one"
    record = backend.records.get(sid)
    assert record is not None
    assert record.sandbox_id == started.sandbox_id  # the call ran in the head start's sandbox
    assert statuses(backend, sid) == ["provisioning", "ready"]  # one acquire, one sandbox

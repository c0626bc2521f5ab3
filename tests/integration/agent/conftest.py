"""The agent loop as deployed: moto's Step Functions executes statemachines/agent.asl.json, its Lambda
tasks run through their functions/<name>/handler.py in this process (the local Invoke server), tools
run in a real `process` sandbox, and the model is the scripted one (docs/api.md) unless a test points the
loop at a fake provider.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from riadex.adapters.dynamodb import tables
from riadex.bootstrap import Container, FunctionEnvironment, bootstrap
from riadex.config import Settings
from riadex.entrypoints.http.app import create_app
from riadex.entrypoints.local.agent_workflow import LocalAgent, ensure_bucket, state_machine_arn
from riadex.entrypoints.local.functions import task_functions
from riadex.entrypoints.local.lambda_invoke import LambdaInvokeServer
from tests.conftest import make_settings
from tests.integration.runs.conftest import FAST_STREAMS, lambda_server  # noqa: F401 - a fixture
from tests.support import settle

AgentFactory = Callable[..., tuple[Container, TestClient]]


@pytest.fixture
def agent_stack(
    moto_endpoint: str,
    lambda_server: LambdaInvokeServer,  # noqa: F811 - the fixture imported above
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AgentFactory]:
    """Builds a deployed agent (its own state machine, tables and sandboxes) with settings overrides.

    Function-scoped: pynamodb binds table names globally, so one test's stack at a time."""
    started: list[tuple[LocalAgent, Container, TestClient]] = []

    def build(**overrides: Any) -> tuple[Container, TestClient]:
        if overrides.get("sandbox_jail", "auto") != "none" and shutil.which("bwrap") is None:
            pytest.skip("bubblewrap (bwrap) is missing, the agent's sandbox jail: apt-get install bubblewrap")
        name = f"ag{uuid.uuid4().hex[:10]}"
        data_dir = tmp_path_factory.mktemp(name)
        settings: Settings = make_settings(
            moto_endpoint,
            state_machine_arn=state_machine_arn("us-east-1", name),
            objects_bucket=f"{name}-objects",
            data_dir=data_dir,
            **{
                **FAST_STREAMS,
                **overrides,
            },
        )
        container = bootstrap(settings)
        tables.create_all()
        ensure_bucket(settings.aws_region, settings.objects_bucket)
        functions = task_functions(FunctionEnvironment(settings), settings.aws_region)
        agent = LocalAgent(lambda_server, settings.aws_region, name, functions)
        agent.watcher.interval = 0.1
        agent.start()
        settle.register(agent)
        client = TestClient(create_app(container), raise_server_exceptions=False)
        client.__enter__()
        started.append((agent, container, client))
        return container, client

    yield build
    for agent, container, client in started:
        client.__exit__(None, None, None)
        settle.unregister(agent)
        agent.stop()
        container.sandboxes.provider.release_all()  # type: ignore[attr-defined]

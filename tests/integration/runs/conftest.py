"""Runs that really execute: moto's Step Functions runs statemachines/agent.asl.json and calls each task
through its functions/<name>/handler.py behind a local Lambda Invoke endpoint in this process (as
`make dev` does)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from riadex.adapters.dynamodb import tables
from riadex.bootstrap import Container, FunctionEnvironment, bootstrap
from riadex.config import Settings
from riadex.entrypoints.http.app import create_app
from riadex.entrypoints.local.agent_workflow import (
    LocalAgent,
    configure_moto,
    ensure_bucket,
    route_lambda_to,
    state_machine_arn,
)
from riadex.entrypoints.local.functions import task_functions
from riadex.entrypoints.local.lambda_invoke import LambdaInvokeServer
from tests.conftest import make_settings
from tests.support import settle

FAST_STREAMS = {
    "stream_poll_fast_seconds": 0.02,
    "stream_poll_active_max_seconds": 0.05,
    "stream_poll_idle_max_seconds": 0.1,
    "stream_max_seconds": 30,
}


@pytest.fixture(scope="session")
def lambda_server(moto_endpoint: str) -> Iterator[LambdaInvokeServer]:
    configure_moto(moto_endpoint)
    server = LambdaInvokeServer()
    server.start()
    route_lambda_to(server)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(moto_endpoint: str) -> Settings:
    name = f"sm{uuid.uuid4().hex[:10]}"
    return make_settings(
        moto_endpoint,
        state_machine_arn=state_machine_arn("us-east-1", name),
        objects_bucket=f"{name}-objects",
        **FAST_STREAMS,
    )


@pytest.fixture(scope="module")
def container(settings: Settings) -> Container:
    built = bootstrap(settings)
    tables.create_all()
    ensure_bucket(settings.aws_region, settings.objects_bucket)
    return built


@pytest.fixture(scope="module")
def agent(container: Container, lambda_server: LambdaInvokeServer) -> Iterator[LocalAgent]:
    arn = container.settings.state_machine_arn
    assert arn is not None
    name = arn.rsplit(":", 1)[1]
    functions = task_functions(FunctionEnvironment(container.settings), container.settings.aws_region)
    running = LocalAgent(lambda_server, container.settings.aws_region, name, functions)
    running.watcher.interval = 0.1
    running.start()
    settle.register(running)
    yield running
    settle.unregister(running)
    running.stop()
    container.sandboxes.provider.release_all()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def client(container: Container, agent: LocalAgent) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client

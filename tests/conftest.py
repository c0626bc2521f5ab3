"""Shared fixtures: one moto server for the whole run, fresh tables per test, the app over them."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from riadex.adapters.dynamodb import tables
from riadex.bootstrap import Container, bootstrap
from riadex.config import Settings
from riadex.entrypoints.http.app import create_app
from riadex.entrypoints.local.moto_fidelity import make_moto_faithful
from riadex.entrypoints.local.stack import isolate_from_aws

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    make_moto_faithful()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = dict(os.environ)
    isolate_from_aws(endpoint, "us-east-1")
    yield endpoint
    os.environ.clear()
    os.environ.update(saved)
    server.stop()


def make_settings(endpoint: str, **overrides: object) -> Settings:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    values: dict[str, object] = {
        "users_table": f"{prefix}-users",
        "sessions_table": f"{prefix}-sessions",
        "runs_table": f"{prefix}-runs",
        "events_table": f"{prefix}-events",
        "files_table": f"{prefix}-files",
        "dynamodb_endpoint": endpoint,
        "auth_secret": TEST_SECRET,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture
def settings(moto_endpoint: str) -> Settings:
    return make_settings(moto_endpoint)


@pytest.fixture
def container(settings: Settings) -> Container:
    built = bootstrap(settings)
    tables.create_all()
    return built


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client

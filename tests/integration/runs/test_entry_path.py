"""The local stack takes the AWS entry path: each task runs through the functions/<name>/handler.py the
template names, imported from its file and bootstrapped lazily once per warm function, and the HTTP
side is the API and stream functions' own apps behind one gateway (riadex/entrypoints/local/)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from riadex.application.append_bell import AppendBell
from riadex.bootstrap import Container, FunctionEnvironment
from riadex.config import Settings
from riadex.entrypoints.local.agent_workflow import LocalAgent
from riadex.entrypoints.local.functions import TEMPLATE, LocalFunction, task_functions
from riadex.entrypoints.local.gateway import LocalGateway, local_gateway
from riadex.entrypoints.local.lambda_invoke import LambdaInvokeServer
from tests.integration.runs.helpers import new_session, new_user, send, stream, wait_for_done
from tests.support import settle

ROOT = Path(__file__).resolve().parents[3]
StartAgent = Callable[[Path], dict[str, LocalFunction]]


@pytest.fixture(scope="module")
def environment(settings: Settings) -> FunctionEnvironment:
    return FunctionEnvironment(settings, bell=AppendBell())


@pytest.fixture(scope="module")
def gateway(container: Container, environment: FunctionEnvironment) -> LocalGateway:
    return local_gateway(environment)  # `container` made the tables and the bucket


@pytest.fixture
def start_agent(
    lambda_server: LambdaInvokeServer, settings: Settings, environment: FunctionEnvironment
) -> Iterator[StartAgent]:
    """The state machine with its tasks taken from the functions of `template`."""
    started: list[LocalAgent] = []

    def start(template: Path) -> dict[str, LocalFunction]:
        assert settings.state_machine_arn is not None
        functions = task_functions(environment, settings.aws_region, template)
        name = settings.state_machine_arn.rsplit(":", 1)[1]
        agent = LocalAgent(lambda_server, settings.aws_region, name, functions)
        agent.watcher.interval = 0.1
        settle.register(agent.start())
        started.append(agent)
        return functions

    yield start
    for agent in started:
        settle.unregister(agent)
        agent.stop()


def _done(container: Container, sid: str, run_id: str) -> dict[str, object]:
    events = wait_for_done(container, sid, run_id, timeout=60)
    return next(e.data for e in events if e.type == "done" and e.run_id == run_id)


def test_each_task_runs_its_handler_file_bootstrapped_once_per_warm_function(
    start_agent: StartAgent, gateway: LocalGateway, container: Container, environment: FunctionEnvironment
) -> None:
    functions = start_agent(TEMPLATE)
    with TestClient(gateway) as client:
        auth = new_user(client)
        sid = new_session(client, auth)
        for message in ("hi", "and again"):
            run_id = send(client, auth, sid, message).json()["data"]["run_id"]
            assert _done(container, sid, run_id)["status"] == "completed"
        url = f"/api/v1/runs/{run_id}/events"
        assert gateway.serves_stream("GET", url)  # the stream function's app answers this one
        assert stream(client, url, auth)[-1][1] == "done"
    assert not gateway.serves_stream("POST", f"/api/v1/sessions/{sid}/messages")
    streams = gateway.stream.state.container
    assert gateway.api.state.container is not streams  # two functions, two containers...
    assert streams.bell is environment.bell  # ...and the tasks' appends ring the streams' bell
    ran = {name: function for name, function in functions.items() if function.module is not None}
    assert {"start-run", "plan", "summarize", "finish-run"} <= set(ran), sorted(ran)
    assert "acquire-sandbox" not in ran  # chats: no sandbox started (docs/sandboxes.md)
    for name, function in ran.items():
        assert function.module is not None
        handler_file = ROOT / "functions" / name.replace("-", "_") / "handler.py"
        assert Path(str(function.module.__file__)) == handler_file
        # Cold on the first run, warm on the second: its lazy bootstrap built one container.
        assert len(function.environment.built) == 1, name
        assert function.environment.built[0].bell is environment.bell
    containers = {id(function.environment.built[0]) for function in ran.values()}
    assert len(containers) == len(ran)  # each function its own, as each Lambda function has its own


def test_a_handler_file_that_does_not_import_fails_the_run_as_in_lambda_until_it_is_fixed(
    start_agent: StartAgent, gateway: LocalGateway, container: Container, tmp_path: Path
) -> None:
    shutil.copy(TEMPLATE, tmp_path / "template.yaml")
    shutil.copytree(ROOT / "functions", tmp_path / "functions")
    plan = tmp_path / "functions" / "plan" / "handler.py"
    plan.write_text("from riadex.entrypoints.tasks.no_such_module import handler\n")
    start_agent(tmp_path / "template.yaml")
    with TestClient(gateway) as client:
        auth = new_user(client)
        sid = new_session(client, auth)
        run_id = send(client, auth, sid, "hi").json()["data"]["run_id"]
        assert _done(container, sid, run_id)["status"] == "failed"
        errors = [e.data for e in container.events.read(sid, 0, None) if e.type == "error"]
        assert [e["code"] for e in errors] == ["runtime_import_module_error"]
        assert "Unable to import module 'handler'" in str(errors[0]["message"])
        assert "no_such_module" in str(errors[0]["message"])
        # A failed init is tried again on the next invocation, as Lambda does: fixed, it runs.
        plan.write_text((ROOT / "functions" / "plan" / "handler.py").read_text())
        run_id = send(client, auth, sid, "hi again").json()["data"]["run_id"]
        assert _done(container, sid, run_id)["status"] == "completed"

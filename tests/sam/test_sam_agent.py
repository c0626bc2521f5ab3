"""The agent loop with every task in the built functions: the local stack's state machine (moto) invokes
`sam local start-lambda --warm-containers EAGER`, and runs a `!shell`/`!write`/`!read` then `!ask` run
answered, a cancel and a failure, followed over SSE as a client would.

The wiring (README, "sam local"): the function containers sit on podman's bridge, so the stack's moto
listens on the bridge's gateway (LOCAL_AWS_HOST, one of this machine's own addresses), the functions
reach the sandboxes through the docker backend (podman's API served on that gateway too, each sandbox's
tool port published there: SANDBOX_PUBLISH_HOST), and the endpoints reach the functions through
`--env-vars`. sam passes only the variables a template declares, so start-lambda serves a copy of the
built template whose Globals also declare those few (local_template below).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import connect_sse
from samtranslator.yaml_helper import yaml_parse

from riadex.config import Settings
from riadex.entrypoints.local.agent_workflow import state_machine_arn
from riadex.entrypoints.local.functions import FINALIZER, read_template
from riadex.entrypoints.local.sam_lambda import logical_id
from riadex.entrypoints.local.stack import STATE_MACHINE_NAME
from tests.e2e.stack import Stack, running_stack
from tests.packaging.build import BUILD_DIR, ROOT
from tests.sam.conftest import PARAMETERS, PODMAN_SERVICE, REQUIRES, free_port, sam_server
from tests.support.invariants import check_run

pytestmark = REQUIRES

FUNCTIONS = [logical_id(name) for name in [*read_template().tasks.values(), FINALIZER]]
# Declared for sam local only (the deployed template has none of them): where AWS and the sandboxes are.
LOCAL_ONLY = ("AWS_ENDPOINT_URL", "DYNAMODB_ENDPOINT", "DOCKER_HOST", "SANDBOX_PUBLISH_HOST")
SANDBOX_IMAGE = "riadex-sandbox:dev"


def sandbox_sdk_layer(built: Path) -> Path:
    """The docker SDK (and requests), which the deployed layers leave out since Lambda's sandboxes are
    Fargate tasks: a layer for sam local only, at the versions this project pins."""
    layer = built.parent / "SamLocalSandboxLayer"
    wheels = [f"{name}=={version(name)}" for name in ("docker", "requests", "charset-normalizer")]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
         "--only-binary=:all:", "--implementation", "cp", "--python-version", "3.13",
         "--platform", "manylinux2014_x86_64", "--upgrade", "--target", str(layer / "python"), *wheels],
        check=True, timeout=600,
    )  # fmt: skip
    return layer


def local_template(built: Path, names: tuple[str, ...]) -> Path:
    """The built template with `names` declared in its Globals (empty) and the sandbox SDK's layer,
    next to it so CodeUri and ContentUri resolve."""
    template: dict[str, Any] = yaml_parse(built.read_text())
    function = template["Globals"]["Function"]
    function["Environment"]["Variables"].update(dict.fromkeys(names, ""))
    layer = sandbox_sdk_layer(built)
    template["Resources"][layer.name] = {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {"ContentUri": layer.name, "CompatibleRuntimes": ["python3.13"]},
    }
    function["Layers"] = [*function.get("Layers", []), {"Ref": layer.name}]
    local = built.with_name("template-sam-local.json")
    local.write_text(json.dumps(template, indent=1))
    return local


def bridge_gateway(env: dict[str, str]) -> str:
    """podman's default bridge's gateway: this machine's address on that bridge."""
    shown = subprocess.run(
        [str(PODMAN_SERVICE), "podman", "network", "inspect", "podman"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    gateway: str = json.loads(shown)[0]["subnets"][0]["gateway"]
    return gateway


def wait_listening(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=5)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url}: nothing listens"
            time.sleep(0.2)


def moto_endpoint(stack: Stack, timeout: float = 30) -> str:
    """The stack's AWS endpoint, from the last line of its ready message."""
    deadline = time.monotonic() + timeout
    while not (found := re.search(r"DynamoDB .*: (http://\S+)", "".join(stack.output))):
        assert time.monotonic() < deadline, stack.output
        time.sleep(0.1)
    return found.group(1)


class Agent:
    """The local stack's API as a client uses it: one user, one session."""

    def __init__(self, stack: Stack) -> None:
        self.api = httpx.Client(base_url=f"{stack.url}/api/v1", timeout=30)
        token = self.api.post("/users", json={"name": "sam"}).json()["data"]["token"]
        self.api.headers["Authorization"] = f"Bearer {token}"
        self.session_id = self.api.put("/sessions").json()["data"]["session_id"]

    def send(self, message: str) -> str:
        sent = self.api.post(f"/sessions/{self.session_id}/messages", json={"message": message})
        assert sent.status_code == 202, sent.text
        run_id: str = sent.json()["data"]["run_id"]
        return run_id

    def events(self, run_id: str, until: str = "done", timeout: float = 240) -> list[dict[str, Any]]:
        """The run's events from its start until the first of type `until` (the stream ends at done)."""
        seen: list[dict[str, Any]] = []
        path = f"/runs/{run_id}/events"
        with connect_sse(self.api, "GET", path, timeout=timeout) as source:
            for sse in source.iter_sse():
                if not sse.data:
                    continue
                seen.append(json.loads(sse.data))
                if seen[-1]["type"] == until:
                    break
        return seen


def _done(events: list[dict[str, Any]]) -> dict[str, Any]:
    dones = [e["data"] for e in events if e["type"] == "done"]
    assert len(dones) == 1, events
    return dones[0]  # type: ignore[no-any-return]


def _tools(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["data"]["function"], e["data"]["status"]) for e in events if e["type"] == "tool"]


@pytest.fixture(scope="module")
def agent(sam_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    built = subprocess.run(
        [str(ROOT / "sandbox-image" / "build-image.sh")], env=sam_env, capture_output=True, text=True,
        timeout=1800,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.strip().splitlines()[-1] == SANDBOX_IMAGE
    gateway = bridge_gateway(sam_env)
    logs = tmp_path_factory.mktemp("sam-agent")
    sam_port = free_port()
    sam_url = f"http://127.0.0.1:{sam_port}"
    podman_api = f"tcp://{gateway}:{free_port(gateway)}"
    with ExitStack() as stack:
        # A second listener of the same private podman, on the bridge: the functions' DOCKER_HOST.
        service = subprocess.Popen(
            [str(PODMAN_SERVICE), "podman", "system", "service", "--time=0", podman_api], env=sam_env,
            stdout=(logs / "podman-tcp.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        stack.callback(service.wait, timeout=30)
        stack.callback(os.killpg, service.pid, signal.SIGTERM)
        wait_listening(podman_api.replace("tcp://", "http://") + "/_ping")
        local = stack.enter_context(
            running_stack(
                logs / "data",
                LLM_PROVIDER="scripted",
                LOCAL_AWS_HOST=gateway,
                LOCAL_LAMBDA_ENDPOINT=sam_url,
                SANDBOX_BACKEND="docker",
                SANDBOX_PUBLISH_HOST=gateway,
                DOCKER_HOST=sam_env["DOCKER_HOST"],
            )
        )
        aws = moto_endpoint(local)
        settings = Settings()  # as the stack reads them (the same environment and .env)
        variables = {
            "AWS_ENDPOINT_URL": aws,
            "DYNAMODB_ENDPOINT": aws,
            "DOCKER_HOST": podman_api,
            "SANDBOX_PUBLISH_HOST": gateway,
            "SANDBOX_BACKEND": "docker",
            "SANDBOX_SECRET_STORE": "inline",
            "USERS_TABLE": settings.users_table,
            "SESSIONS_TABLE": settings.sessions_table,
            "RUNS_TABLE": settings.runs_table,
            "EVENTS_TABLE": settings.events_table,
            "FILES_TABLE": settings.files_table,
            "OBJECTS_BUCKET": settings.objects_bucket,
            "STATE_MACHINE_ARN": state_machine_arn(settings.aws_region, STATE_MACHINE_NAME),
        }
        env_vars = logs / "env.json"
        env_vars.write_text(json.dumps({"Parameters": variables}))
        template = local_template(BUILD_DIR / "template.yaml", LOCAL_ONLY)
        args = [
            "start-lambda", *FUNCTIONS, "-t", str(template), "--env-vars", str(env_vars),
            "--port", str(sam_port), "--warm-containers", "EAGER", "--region", settings.aws_region,
            "--parameter-overrides", PARAMETERS,
            "--skip-pull-image",  # samconfig.toml's is not read: it is looked for next to the template
        ]  # fmt: skip
        ready = stack.enter_context(
            sam_server(sam_env, logs / "start-lambda.log", *args, probe=sam_url, timeout=900)
        )
        print(f"start-lambda ready with {len(FUNCTIONS)} warm functions in {ready:.1f} s")
        yield Agent(local)


def test_shell_write_read_then_ask_answered(agent: Agent) -> None:
    started = time.monotonic()
    message = "Try it\n!shell echo hi from sam\n!write notes/a.txt written in a function\n!read notes/a.txt"
    run_id = agent.send(message + "\n!ask Go on?")
    asked = agent.events(run_id, until="wait")
    assert asked[-1]["data"]["question"] == "Go on?", asked
    agent.send("yes")
    events = agent.events(run_id)
    print(f"shell/write/read/ask run: {time.monotonic() - started:.1f} s")
    check_run(events, run_id, whole_log=False)
    assert _done(events)["status"] == "completed", events
    assert _tools(events) == [
        ("shell_exec", "calling"),
        ("shell_exec", "called"),
        ("file_write", "calling"),
        ("file_write", "called"),
        ("file_read", "calling"),
        ("file_read", "called"),
        ("message_ask_user", "calling"),
        ("message_ask_user", "called"),
    ]
    called = [e["data"]["content"] for e in events if e["type"] == "tool" and e["data"]["status"] == "called"]
    assert called[0]["exit_code"] == 0
    assert called[0]["output"] == "hi from sam\n"
    assert called[2]["content"] == "written in a function"
    assert called[3] == "yes"
    sandboxes = [e["data"] for e in events if e["type"] == "sandbox"]
    assert {s["backend"] for s in sandboxes} == {"docker"}


def test_a_cancel_reaches_the_running_command(agent: Agent) -> None:
    run_id = agent.send("!sleep 60")
    running = agent.events(run_id, until="tool")
    assert running[-1]["data"]["function"] == "shell_exec"
    started = time.monotonic()
    cancelled = agent.api.post(f"/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    events = agent.events(run_id)
    print(f"cancel to done: {time.monotonic() - started:.1f} s")
    check_run(events, run_id, whole_log=False)
    assert _done(events)["status"] == "cancelled", events
    assert ("shell_exec", "failed") in _tools(events)


def test_a_failing_model_call_fails_the_run(agent: Agent) -> None:
    started = time.monotonic()
    run_id = agent.send("!fail the model is down")
    events = agent.events(run_id)
    print(f"failed run: {time.monotonic() - started:.1f} s")
    check_run(events, run_id, whole_log=False)
    done = _done(events)
    assert done["status"] == "failed", events
    errors = [e["data"] for e in events if e["type"] == "error"]
    assert errors, events

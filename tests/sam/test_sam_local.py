"""`sam local` runs the built functions in Lambda's runtime (the stand-in base image under podman).

Run by `make sam-test` (root, podman; about 2 minutes with the image and the build cached, 4-7 on a fresh
machine), not by `make test`: see the README, "sam local". What runs: `sam local invoke` of the API
function with the events of tests/events/, `sam local start-lambda --warm-containers EAGER` invoked the
way the local stack's state machine invokes it (riadex.entrypoints.local.sam_lambda), and
`sam local start-api` for JSON routes. The functions get no AWS endpoint here, so these calls are the
ones that answer before any AWS call: health, a missing identity, a task given an event without its run.
The agent loop in start-lambda, with AWS and the sandboxes reachable, is test_sam_agent.py.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from riadex.entrypoints.local.lambda_invoke import FunctionError
from riadex.entrypoints.local.sam_lambda import SamLocalLambda
from tests.packaging.build import ROOT
from tests.sam.conftest import PARAMETERS, REQUIRES, SAM, free_port, sam_server

EVENTS = ROOT / "tests" / "events"
TASKS = ["FailRunFunction", "ApiFunction"]

pytestmark = REQUIRES


def _sam(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SAM), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )  # fmt: skip


def _invoke_api(env: dict[str, str], event: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    done = _sam(env, "local", "invoke", "ApiFunction", "-e", str(path), "--parameter-overrides", PARAMETERS)
    assert done.returncode == 0, done.stderr[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_sam_local_invoke_the_api_with_the_events(sam_env: dict[str, str], tmp_path: Path) -> None:
    started = time.monotonic()
    health = _invoke_api(sam_env, json.loads((EVENTS / "apigw_health.json").read_text()), tmp_path)
    print(f"sam local invoke (health): {time.monotonic() - started:.1f} s")
    assert health["statusCode"] == 200
    assert json.loads(health["body"])["data"]["version"]
    anonymous = json.loads((EVENTS / "apigw_list_sessions.json").read_text())
    anonymous["requestContext"].pop("authorizer", None)
    refused = _invoke_api(sam_env, anonymous, tmp_path)
    assert refused["statusCode"] == 401
    assert json.loads(refused["body"])["code"] != 0


@pytest.fixture(scope="module")
def start_lambda(sam_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("sam") / "start-lambda.log"
    args = ["start-lambda", *TASKS, "--port", str(port), "--warm-containers", "EAGER"]
    with sam_server(sam_env, log, *args, "--parameter-overrides", PARAMETERS, probe=url) as ready:
        print(f"start-lambda ready in {ready:.1f} s")
        yield url


def test_start_lambda_serves_the_tasks_as_the_state_machine_calls_them(start_lambda: str) -> None:
    remote = SamLocalLambda(start_lambda, timeout=120)
    health = json.loads((EVENTS / "apigw_health.json").read_text())
    times = []
    for _ in range(3):
        started = time.monotonic()
        answer = remote.invoke("ApiFunction", health)
        times.append(time.monotonic() - started)
        assert answer["statusCode"] == 200
    print("start-lambda invokes (s):", ", ".join(f"{t:.3f}" for t in times))
    # The runtime's error body comes without X-Amz-Function-Error from sam: still a failure, with its type.
    with pytest.raises(FunctionError) as failed:
        remote.invoke("FailRunFunction", {})
    assert failed.value.error_type == "KeyError"
    assert "run_id" in str(failed.value)


def test_start_api_routes_json_requests(sam_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api/v1"
    args = ["start-api", "--port", str(port), "--parameter-overrides", PARAMETERS]
    with sam_server(sam_env, tmp_path / "start-api.log", *args, probe=f"{base}/health"):
        health = httpx.get(f"{base}/health", timeout=120)
    assert health.status_code == 200
    assert health.json()["data"]["version"]

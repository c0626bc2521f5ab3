"""`sam local` runs the built functions in Lambda's runtime (the stand-in base image under podman).

Run by `make sam-test` (root, podman; about 2 minutes with the image and the build cached, 4-7 on a fresh
machine), not by `make test`: see the README, "sam local". What runs: `sam local invoke` of the API
function with the events of tests/events/, `sam local start-lambda --warm-containers EAGER` invoked the
way the local stack's state machine invokes it (riadex.entrypoints.local.sam_lambda), and
`sam local start-api` for JSON routes. The functions get no AWS endpoint here, so these calls are the
ones that answer before any AWS call: health, a missing identity, a task given an event without its run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from riadex.entrypoints.local.lambda_invoke import FunctionError
from riadex.entrypoints.local.sam_lambda import SamLocalLambda
from tests.packaging.build import ROOT, build

SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
EVENTS = ROOT / "tests" / "events"
PARAMETERS = "VpcId=vpc-0local SubnetIds=subnet-0local SandboxImageUri=riadex-sandbox:dev"
TASKS = ["FailRunFunction", "ApiFunction"]

pytestmark = [
    pytest.mark.skipif(os.environ.get("RIADEX_SAM_TEST") != "1", reason="make sam-test runs it (README)"),
    pytest.mark.skipif(shutil.which("podman") is None, reason="needs podman (make system-deps)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sam local here needs root (rootful podman)"),
]


@pytest.fixture(scope="module")
def sam_env() -> dict[str, str]:
    build()
    service = ROOT / "sandbox-image" / "podman-service.sh"
    subprocess.run([str(service), "start"], check=True, timeout=120)
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    printed = subprocess.run([str(service), "env"], check=True, capture_output=True, text=True).stdout
    for line in printed.split():
        key, _, value = line.partition("=")
        env[key] = value.strip("'\"")
    subprocess.run([str(ROOT / "sandbox-image" / "build-lambda-base.sh")], check=True, timeout=900, env=env)
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
def start_lambda(sam_env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [str(SAM), "local", "start-lambda", *TASKS, "--port", str(port), "--warm-containers", "EAGER",
         "--parameter-overrides", PARAMETERS],
        cwd=ROOT, env=sam_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    started = time.monotonic()
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        pytest.fail("sam local start-lambda did not listen within 300 s")
    print(f"start-lambda ready in {time.monotonic() - started:.1f} s")
    yield url
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


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


def test_start_api_routes_json_requests(sam_env: dict[str, str]) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [str(SAM), "local", "start-api", "--port", str(port), "--parameter-overrides", PARAMETERS],
        cwd=ROOT, env=sam_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                health = httpx.get(f"{base}/health", timeout=120)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "sam local start-api did not listen within 300 s"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["data"]["version"]
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

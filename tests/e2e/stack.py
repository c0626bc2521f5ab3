"""Start the local stack exactly as `make dev` does (`python -m riadex.entrypoints.local`) on a free port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import boto3

from riadex.entrypoints.local.agent_workflow import state_machine_arn
from riadex.entrypoints.local.stack import STATE_MACHINE_NAME
from tests.support.settle import execution_statuses

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Stack:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.output: list[str] = []
        self.output_closed = threading.Event()
        """Set once everything the process printed is in `output` (its stdout reached EOF)."""

    def whole_output(self, timeout: float = 30) -> str:
        """Everything the stack printed, once it has exited and its output is read to the end."""
        assert self.output_closed.wait(timeout), "the stack's output never closed"
        return "".join(self.output)

    def stop(self) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def stack_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    # Nothing of the test process's own stack (moto endpoint, table names, secrets) may leak in.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "AUTH_", "RIADEX_", "MOTO_"))
        and k not in {"DYNAMODB_ENDPOINT", "STATE_MACHINE_ARN"}
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT / "layers" / "core"),
            "PORT": str(port),
            "RIADEX_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if os.environ.get("RIADEX_CALL_RECORD"):  # the template tier records the stack's calls too
        env["RIADEX_CALL_RECORD"] = os.environ["RIADEX_CALL_RECORD"]
    env.update(extra)
    return env


def launch(data_dir: Path, port: int | None = None, **extra: str) -> tuple[subprocess.Popen[str], int]:
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "riadex.entrypoints.local"],
        cwd=ROOT,
        env=stack_env(data_dir, port, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, port


@contextmanager
def running_stack(data_dir: Path, **extra: str) -> Iterator[Stack]:
    process, port = launch(data_dir, **extra)
    stack = Stack(process, port)
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            stack.output.append(line)
            if "is ready on" in line:
                ready.set()
        stack.output_closed.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if not ready.wait(READY_TIMEOUT_S):
            raise RuntimeError("local stack did not become ready:\n" + "".join(stack.output))
        yield stack
    finally:
        stack.stop()


def emulator_endpoint(output: Sequence[str]) -> str:
    """The local stack's AWS emulator (moto: DynamoDB, Step Functions, S3), as its ready line names it."""
    found = re.search(r"DynamoDB \(the stored events[^)]*\): (http://\S+)", "".join(output))
    assert found, "".join(output)
    return found.group(1)


def executions_ended(output: Sequence[str], run_id: str, timeout: float = 30) -> dict[str, str]:
    """Wait until every execution of the run (`<run_id>`, `<run_id>-<n>`) has ended; their statuses.

    The positive signal that nothing more runs for the run: after it only the finalizer may look at the
    run, and a run with its `done` gets nothing from it (its closing events have fixed append keys)."""
    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=emulator_endpoint(output),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    arn = state_machine_arn("us-east-1", STATE_MACHINE_NAME)
    deadline = time.monotonic() + timeout
    while True:
        statuses = execution_statuses(sfn, arn, run_id)
        if statuses and "RUNNING" not in statuses.values():
            return statuses
        assert time.monotonic() < deadline, f"{run_id}'s executions never ended: {statuses}"
        time.sleep(0.05)

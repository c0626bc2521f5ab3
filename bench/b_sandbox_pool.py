"""Message → first tool result on the fargate backend, with a warm pool and without, on the local
simulation: the whole local stack (the API's use case, the deployed ASL on moto, the loop's tasks, the
scripted model) with the fargate backend on moto's ECS and the real tool server standing in for each
task (tests/support/fargate_sim.py).

moto starts a task at once; a Fargate task takes 45-90 s. The simulation makes a task's tool server
answer only START_DELAY seconds after its RunTask (BENCH_FARGATE_START_DELAY, 45 by default: the low
end of AWS's range), for the cold starts and for the pool's own tasks alike, so "without a pool" pays
what it would in AWS and "with" pays the claim only because its task started earlier.

Each run is a new session sending `!shell echo first` and waiting for the `tool` event that carries
the result; the figure is that event's timestamp minus the moment before the message was sent.
Cold runs go one after another; warm runs draw on a pool filled (and seen answering) beforehand.
Also: what one pooled task costs per hour in AWS (b_cost.sandbox_hour: the template and prices.json).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "core"))

import boto3  # noqa: E402

import riadex.bootstrap as riadex_bootstrap  # noqa: E402
from bench.b_cost import sandbox_hour  # noqa: E402
from riadex.adapters.dynamodb.sandbox_pool import DynamoSandboxPool  # noqa: E402
from riadex.adapters.sandbox.fargate.provider import FargateSandboxes  # noqa: E402
from riadex.application.sessions import create_session  # noqa: E402
from riadex.config import Settings  # noqa: E402
from riadex.domain.models import utcnow  # noqa: E402
from riadex.entrypoints.local.stack import LocalStack  # noqa: E402
from tests.support.fargate_sim import SimulatedFargate, prepare_ecs, release_ecs  # noqa: E402

START_DELAY = float(os.environ.get("BENCH_FARGATE_START_DELAY", "45"))
RUNS = int(os.environ.get("BENCH_FARGATE_RUNS", "5"))
OWNER = "usr_" + "0" * 32


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data:
        stack = LocalStack(
            Settings(
                RIADEX_DATA_DIR=Path(data),
                snapshot_interval_seconds=0,
                sandbox_start_timeout=START_DELAY + 60,  # the template gives Fargate 180 s
            )
        )
        settings = stack.start()
        aws = prepare_ecs(
            stack.endpoint,
            boto3.client("ec2", region_name=settings.aws_region),
            boto3.client("ecs", region_name=settings.aws_region),
        )
        sim = SimulatedFargate(aws["ecs"], ROOT / "sandbox-image", Path(data) / "tasks", START_DELAY)
        provider = sim.backend(
            aws,
            start_timeout_seconds=START_DELAY + 60,
            poll_seconds=0.2,
            pool_store=DynamoSandboxPool(aws["task_definition"]),
        )
        # Every function's container (AcquireSandbox, Think, ..., each bootstrapped on its first
        # invocation) gets this one fargate backend: what SANDBOX_BACKEND=fargate builds, on moto's
        # ECS, plus the simulation's stand-ins as the tasks' endpoints.
        built = riadex_bootstrap.build_provider
        riadex_bootstrap.build_provider = lambda settings, secrets=None: provider
        assert stack.container is not None
        stack.container.sandboxes.provider = provider
        try:
            return _measure(stack, provider)
        finally:
            riadex_bootstrap.build_provider = built
            sim.stop_all()
            release_ecs(stack.endpoint)
            stack.stop()


def _measure(stack: LocalStack, provider: FargateSandboxes) -> dict[str, object]:
    container = stack.container
    assert container is not None
    provider.pool_size = 0
    cold = [_first_tool_result(container) for _ in range(RUNS)]

    provider.pool_size = RUNS
    filled_at = time.monotonic()
    provider.maintain()  # starts RUNS tasks
    while provider.maintain().get("ready", 0) < RUNS:
        time.sleep(1)
    fill_seconds = time.monotonic() - filled_at
    warm = [_first_tool_result(container, again=True) for _ in range(RUNS)]
    return {
        "fargate_simulated_start_delay_s": START_DELAY,
        "fargate_runs_each": RUNS,
        "fargate_cold_message_to_first_tool_result_ms_p50": _p50(r[0] for r in cold),
        "fargate_cold_message_to_first_tool_result_ms_max": round(max(r[0] for r in cold)),
        "fargate_pool_message_to_first_tool_result_ms_p50": _p50(r[0] for r in warm),
        "fargate_pool_message_to_first_tool_result_ms_max": round(max(r[0] for r in warm)),
        "fargate_ready_sandbox_message_to_first_tool_result_ms_p50": _p50(r[2] or 0.0 for r in warm),
        "fargate_pool_acquire_ms_p50": _p50(r[1] for r in warm),
        "fargate_cold_acquire_ms_p50": _p50(r[1] for r in cold),
        "fargate_pool_fill_seconds": round(fill_seconds, 1),
        # AWS: what a pool member costs while it waits (the template's task size, prices.json).
        "fargate_pooled_task_usd_per_hour": round(sandbox_hour(), 5),
        "fargate_pooled_task_usd_per_30_days": round(sandbox_hour() * 24 * 30, 2),
    }


def _p50(values: Any) -> int:
    return round(statistics.median(list(values)))


def _first_tool_result(container: Any, again: bool = False) -> tuple[float, float, float | None]:
    """For one new session, in ms: message → the first tool result, sandbox provisioning → ready, and
    (`again`) the same for a second message once its sandbox is ready: the floor, no acquire in it."""
    session = create_session(OWNER, None, container.sessions, 200)
    first, acquire = _message_to_tool_result(container, session.session_id)
    floor = _message_to_tool_result(container, session.session_id)[0] if again else None
    container.sandboxes.release(session.session_id)
    return first, acquire, floor


def _message_to_tool_result(container: Any, session_id: str) -> tuple[float, float]:
    sent = utcnow()
    run = container.run_service.send_message(OWNER, session_id, "bench\n!shell echo first")
    deadline = time.monotonic() + 2 * (START_DELAY + 60)
    while time.monotonic() < deadline:
        events = container.events.read(session_id, 0, None)
        mine = [e for e in events if e.run_id == run.run_id]
        tool = next((e for e in mine if e.type == "tool" and e.data["status"] == "called"), None)
        if tool is not None:
            assert "first" in str(tool.data), tool.data
            marks = {e.data["status"]: e.ts for e in mine if e.type == "sandbox"}
            acquire = (marks["ready"] - marks["provisioning"]).total_seconds() * 1000 if marks else 0.0
            _wait_done(container, session_id, run.run_id)
            return (tool.ts - sent).total_seconds() * 1000, acquire
        time.sleep(0.02)
    raise RuntimeError("no tool result in time")


def _wait_done(container: Any, session_id: str, run_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(e.run_id == run_id and e.type == "done" for e in container.events.read(session_id, 0, None)):
            return
        time.sleep(0.05)

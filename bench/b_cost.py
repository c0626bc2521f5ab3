"""What an agent step costs in AWS, excluding the model and the sandbox: the billable operations of a
scripted run on the local stack, priced with bench/prices.json (us-east-1 list prices, dated there).

A run is sent through the API (one REST request to the API function) and executes for real: the
deployed ASL on moto, its tasks in-process, a real `process` sandbox, the scripted model. The calls are
recorded (riadex.adapters.call_record, with DynamoDB request units counted as on-demand bills them) and
counted by the function that would make them in AWS:
- Lambda: one request per task invocation and per API request; GB-seconds = (the handler's CPU time
  measured here + a typical AWS latency per AWS call it made, _LATENCY_S) x the function's MemorySize in
  template.yaml. Time waiting on the model or inside the sandbox is excluded (the goal excludes both);
  the wall time here (moto, a shared machine) is reported beside it, not priced in;
- Step Functions (standard): one transition per state entered, from the executions' histories;
- DynamoDB: read and write request units; S3: requests by price class; API Gateway: REST requests;
  X-Ray: one trace per execution and per API request (Tracing: Active).
Two runs are counted, of 1 and of STEPS steps: the per-step figure is the STEPS-step run's total divided
by its steps; the marginal step is (cost(STEPS) - cost(1)) / (STEPS - 1). The counts of requests,
transitions and units are what AWS would bill; the Lambda duration is a model (CPU + call latency).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import boto3

from riadex.adapters import call_record
from riadex.adapters.stepfunctions.workflow import execution_arn
from riadex.config import Settings
from riadex.entrypoints.local.stack import LocalStack
from tests.template.deployed import deployed

HERE = Path(__file__).parent
PRICES = json.loads((HERE / "prices.json").read_text())
STEPS = 8
GOAL_PER_STEP = 0.0002
# What a handler waits for an AWS call in AWS (typical same-region latencies, an assumption: moto's and
# this machine's are not AWS's); with the handler's measured CPU time this is the billed duration.
_LATENCY_S = {
    "dynamodb": 0.006,
    "dynamodb:TransactWriteItems": 0.015,
    "dynamodb:Query": 0.008,
    "states": 0.025,
    "s3": 0.02,
}
_S3_CLASS_A = ("Put", "Copy", "Post", "List", "Create", "Complete", "Upload", "Delete")


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as record:
        saved = {k: os.environ.get(k) for k in (call_record.ENV, call_record.UNITS_ENV)}
        os.environ[call_record.ENV] = record
        os.environ[call_record.UNITS_ENV] = "1"
        stack = LocalStack(Settings(RIADEX_DATA_DIR=Path(data), snapshot_interval_seconds=0))
        try:
            settings = stack.start()
            return _measure(stack, settings, Path(record))
        finally:
            container = stack.container
            if container is not None:
                container.sandboxes.provider.release_all()  # type: ignore[attr-defined]
            stack.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _measure(stack: LocalStack, settings: Settings, record: Path) -> dict[str, object]:
    from fastapi.testclient import TestClient

    from riadex.entrypoints.http.app import create_app

    assert stack.container is not None
    client = TestClient(create_app(stack.container))
    token = client.post("/api/v1/users", json={"name": "bench"}).json()["data"]["token"]
    auth = {"Authorization": f"Bearer {token}"}
    sid = client.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"]
    _run(client, stack, auth, sid, 1)  # warm-up: the sandbox starts, code paths warm
    one = _count(record, settings, *_run(client, stack, auth, sid, 1))
    many = _count(record, settings, *_run(client, stack, auth, sid, STEPS))
    per_step = many["usd"] / STEPS
    marginal = (many["usd"] - one["usd"]) / (STEPS - 1)
    breakdown = {k: round(v / STEPS, 8) for k, v in many["by_item"].items()}
    stream_gb = _memory_gb("StreamFunction")
    figures: dict[str, object] = {
        "cost_usd_per_step": round(per_step, 7),
        "cost_usd_per_marginal_step": round(marginal, 7),
        "cost_goal_usd_per_step": GOAL_PER_STEP,
        "cost_within_goal": per_step <= GOAL_PER_STEP,
        "cost_usd_per_run_1_step": round(one["usd"], 7),
        f"cost_usd_per_run_{STEPS}_steps": round(many["usd"], 7),
        "cost_usd_per_step_by_item": breakdown,
        "cost_largest_item": max(breakdown, key=lambda k: breakdown[k]),
        "cost_usd_per_step_dynamodb_by_call": _per_step(many["dynamodb"]),
        "cost_usd_per_step_lambda_by_function": _per_step(many["lambda"]),
        f"cost_counts_run_{STEPS}_steps": many["counts"],
        f"cost_lambda_wall_seconds_here_run_{STEPS}_steps": many["seconds"],
        "cost_usd_per_step_lambda_duration_at_wall_time_here": round(many["wall_here_usd"] / STEPS, 7),
        "cost_stream_usd_per_minute_followed": round(
            60 * stream_gb * PRICES["lambda_gb_second_x86"] + PRICES["lambda_request"], 7
        ),
        "cost_sandbox_usd_per_live_hour": round(sandbox_hour(), 5),
        "cost_sandbox_usd_per_idle_hour_after_reap": 0.0,
        "cost_prices": f"{PRICES['region']} list prices as of {PRICES['as_of']} (bench/prices.json)",
    }
    return figures


def _per_step(costs: dict[str, float]) -> dict[str, float]:
    top = sorted(costs.items(), key=lambda kv: -kv[1])[:6]
    return {k: round(v / STEPS, 8) for k, v in top}


def _run(
    client: Any, stack: LocalStack, auth: dict[str, str], sid: str, steps: int
) -> tuple[int, str, float]:
    """Sends a run of `steps` shell steps through the API; (record offset before it, run id, seconds)."""
    offset = _lines(stack)
    message = "\n".join(["bench"] + ["!shell true"] * steps)
    started = time.monotonic()
    response = client.post(f"/api/v1/sessions/{sid}/messages", json={"message": message}, headers=auth)
    assert response.status_code == 202, response.text
    run_id = response.json()["data"]["run_id"]
    assert stack.container is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        events = [e for e in stack.container.events.read(sid, 0, None) if e.run_id == run_id]
        if events and events[-1].type == "done":
            if events[-1].data["status"] != "completed":
                raise RuntimeError(f"the bench run ended {events[-1].data}")
            time.sleep(0.5)  # the finish task's last writes
            return offset, run_id, time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError("the bench run did not finish")


def _lines(stack: LocalStack) -> int:
    directory = Path(os.environ[call_record.ENV])
    return sum(len(p.read_text().splitlines()) for p in directory.glob("calls-*.jsonl"))


def _records(record: Path, offset: int) -> list[dict[str, Any]]:
    lines = [line for p in sorted(record.glob("calls-*.jsonl")) for line in p.read_text().splitlines()]
    return [json.loads(line) for line in lines[offset:] if line.strip()]


def _memory_gb(logical: str) -> float:
    return deployed().functions[logical].memory_mb / 1024


def sandbox_hour() -> float:
    """USD per hour of one sandbox task (the template's CPU and memory at prices.json's Fargate rates):
    a live sandbox's hour, and a warm pool member's (b_sandbox_pool)."""
    stack = deployed()
    definition = next(r for r in stack.resources.values() if r["Type"] == "AWS::ECS::TaskDefinition")
    cpu = int(definition["Properties"]["Cpu"]) / 1024
    memory = int(definition["Properties"]["Memory"]) / 1024
    return float(cpu * PRICES["fargate_vcpu_hour"] + memory * PRICES["fargate_gb_hour"])


def _count(record: Path, settings: Settings, offset: int, run_id: str, _: float) -> dict[str, Any]:
    stack = deployed()
    counts: Counter[str] = Counter()
    by_item: dict[str, float] = defaultdict(float)
    dynamo: dict[str, float] = defaultdict(float)
    lambdas: dict[str, float] = defaultdict(float)
    durations: dict[str, list[float]] = defaultdict(list)
    wall_here: dict[str, float] = defaultdict(float)
    for item in _records(record, offset):
        entry = item.get("entry")
        if entry is None:  # the bench's own polling, moto's plumbing: no function's
            continue
        function = stack.function_for_entry(entry)
        if function is None:
            continue
        gb = function.memory_mb / 1024
        if item["k"] == "payload":
            seconds = float(item["seconds"])
            if item["boundary"] == "http":
                counts["apigateway_requests"] += 1
                by_item["apigateway"] += PRICES["apigateway_rest_request"]
                by_item["xray"] += PRICES["xray_trace_recorded"]
            counts["lambda_invocations"] += 1
            by_item["lambda_requests"] += PRICES["lambda_request"]
            lambdas[function.logical_id] += PRICES["lambda_request"]
            # Billed time in AWS: the handler's own CPU, plus the AWS calls' latency (added below);
            # the wall time here also holds moto's and this loaded machine's delays: shown, not billed.
            cpu = float(item.get("cpu_seconds", seconds))
            modeled = cpu * gb * PRICES["lambda_gb_second_x86"]
            by_item["lambda_duration"] += modeled
            lambdas[function.logical_id] += modeled
            wall_here["usd"] += seconds * gb * PRICES["lambda_gb_second_x86"]
            durations[function.logical_id].append(seconds)
            counts["lambda_cpu_ms"] += round(cpu * 1000)
        elif item["k"] == "aws" and not item.get("presign"):
            latency = _LATENCY_S.get(f"{item['service']}:{item['op']}", _LATENCY_S.get(item["service"], 0.02))
            waited = latency * gb * PRICES["lambda_gb_second_x86"]
            by_item["lambda_duration"] += waited
            lambdas[function.logical_id] += waited
            counts["lambda_aws_wait_ms"] += round(latency * 1000)
        elif item["k"] == "units":
            where = f"{item['op']} {_table_role(settings, item['table'])}"
            counts["dynamodb_wru"] += 0  # keeps the key order stable
            dynamo[where] += item["read"] * PRICES["dynamodb_on_demand_read_request_unit"]
            dynamo[where] += item["write"] * PRICES["dynamodb_on_demand_write_request_unit"]
            counts["dynamodb_rru_x2"] += round(2 * item["read"])
            counts["dynamodb_wru"] += round(item["write"])
            by_item["dynamodb"] += (
                item["read"] * PRICES["dynamodb_on_demand_read_request_unit"]
                + item["write"] * PRICES["dynamodb_on_demand_write_request_unit"]
            )
        if item["k"] == "aws" and item["service"] == "s3":
            cheap = not item["op"].startswith(_S3_CLASS_A)
            counts["s3_get_requests" if cheap else "s3_put_list_requests"] += 1
            by_item["s3"] += PRICES[
                "s3_standard_get_and_other_request" if cheap else "s3_standard_put_copy_post_list_request"
            ]
    transitions, executions = _transitions(settings, run_id)
    counts["sfn_state_transitions"] = transitions
    counts["sfn_executions"] = executions
    by_item["step_functions"] += transitions * PRICES["sfn_standard_state_transition"]
    by_item["xray"] += executions * PRICES["xray_trace_recorded"]
    return {
        "usd": sum(by_item.values()),
        "by_item": dict(by_item),
        "counts": dict(counts),
        "dynamodb": dict(dynamo),
        "lambda": dict(lambdas),
        "seconds": {k: round(sum(vs), 2) for k, vs in durations.items()},
        "wall_here_usd": wall_here["usd"],
    }


def _table_role(settings: Settings, tables: str) -> str:
    """`events+sessions` for the deployed names of a transaction's tables."""
    roles = {
        settings.users_table: "users",
        settings.sessions_table: "sessions",
        settings.runs_table: "runs",
        settings.events_table: "events",
        settings.files_table: "files",
    }
    return "+".join(roles.get(t, t) for t in tables.split(","))


def _transitions(settings: Settings, run_id: str) -> tuple[int, int]:
    """States entered by the run's executions (`<run_id>`, then its continuations `<run_id>-<n>`)."""
    assert settings.state_machine_arn is not None
    sfn = boto3.client("stepfunctions", region_name=settings.aws_region)
    total, executions = 0, 0
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=settings.state_machine_arn)["executions"]]
    for name in names:
        if name != run_id and not name.startswith(f"{run_id}-"):
            continue
        executions += 1
        pages = sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution_arn(settings.state_machine_arn, name)
        )
        total += sum(
            1 for page in pages for event in page["events"] if event["type"].endswith("StateEntered")
        )
    return total, executions

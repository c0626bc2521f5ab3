"""The agent state machine, executing locally: moto's Step Functions runs `statemachines/agent.asl.json`
and its Lambda tasks call the functions' handlers in this process (local/functions.py; docs/
architecture.md, "Locally").

Wiring, as facts about moto 5.2.5: state machines execute only with the config
`{"stepfunctions": {"execute_state_machine": true}}`; in server mode moto's Step Functions sends its
Lambda calls to `http://localhost:$MOTO_PORT` (it passes that endpoint explicitly, so
`AWS_ENDPOINT_URL_LAMBDA` alone is not consulted), hence both point at the local Invoke server. A
watcher thread plays EventBridge: it feeds executions that failed, timed out or were aborted to the same
finalizer handler the template wires to the "Execution Status Change" rule, in the same event shape.
It also forgets the oldest finished executions beyond FINISHED_EXECUTIONS_KEPT (a failed one only once
finalized): moto keeps every one in memory for the life of the process (moto_fidelity.forget_executions),
which grew `make load`'s soak without bound.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import httpx

from riadex.adapters import call_record
from riadex.entrypoints.local.functions import ACCOUNT, FINALIZER, read_template
from riadex.entrypoints.local.lambda_invoke import Handler, LambdaInvokeServer, logger
from riadex.entrypoints.local.moto_fidelity import forget_executions

STATE_MACHINE_FILE = Path(__file__).resolve().parents[5] / "statemachines" / "agent.asl.json"
FINAL_STATUSES = ("FAILED", "TIMED_OUT", "ABORTED")
FINISHED_EXECUTIONS_KEPT = 200
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def configure_moto(endpoint: str) -> None:
    httpx.post(
        f"{endpoint}/moto-api/config",
        json={
            "stepfunctions": {"execute_state_machine": True},
            "core": {"passthrough": {"services": ["lambda"]}},
        },
        timeout=10,
    ).raise_for_status()


def route_lambda_to(server: LambdaInvokeServer) -> None:
    os.environ["AWS_ENDPOINT_URL_LAMBDA"] = server.url
    os.environ["MOTO_PORT"] = str(server.port)


def function_arn(region: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"


def state_machine_arn(region: str, name: str) -> str:
    return f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:{name}"


def render_definition(substitutions: Mapping[str, str], path: Path = STATE_MACHINE_FILE) -> str:
    """The ASL with `${Name}` filled in, as CloudFormation's DefinitionSubstitutions does."""

    def fill(match: re.Match[str]) -> str:
        return substitutions[match.group(1)]

    return _PLACEHOLDER.sub(fill, path.read_text())


def deploy_state_machine(region: str, name: str, function_prefix: str) -> str:
    sfn = boto3.client("stepfunctions", region_name=region)
    definition = render_definition(
        {key: function_arn(region, f"{function_prefix}{fn}") for key, fn in read_template().tasks.items()}
    )
    arn = state_machine_arn(region, name)
    role = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    try:
        sfn.create_state_machine(name=name, definition=definition, roleArn=role, type="STANDARD")
    except sfn.exceptions.StateMachineAlreadyExists:
        sfn.update_state_machine(stateMachineArn=arn, definition=definition)
    return arn


def ensure_bucket(region: str, bucket: str) -> None:
    s3 = boto3.client("s3", region_name=region)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(Bucket=bucket)


def status_change_event(region: str, execution: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge "Step Functions Execution Status Change" event for a described execution."""
    return {
        "version": "0",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT,
        "region": region,
        "resources": [execution["executionArn"]],
        "detail": {
            "executionArn": execution["executionArn"],
            "stateMachineArn": execution["stateMachineArn"],
            "name": execution["name"],
            "status": execution["status"],
            "error": execution.get("error"),
            "cause": execution.get("cause"),
        },
    }


class ExecutionWatcher:
    """Polls the state machine's finished executions and finalizes each failed/timed-out/aborted one once."""

    def __init__(
        self,
        region: str,
        arn: str,
        finalize: Handler,
        interval: float = 0.5,
        keep: int = FINISHED_EXECUTIONS_KEPT,
    ) -> None:
        self.region = region
        self.arn = arn
        self.finalize = finalize
        self.interval = interval
        self.keep = keep
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="execution-watcher", daemon=True)
        self._sfn = boto3.client("stepfunctions", region_name=region)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def poll_once(self) -> int:
        handled = 0
        for status in FINAL_STATUSES:
            pages = self._sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.arn, statusFilter=status
            )
            for page in pages:
                for summary in page["executions"]:
                    arn = summary["executionArn"]
                    if arn in self.seen:
                        continue
                    try:
                        described = self._sfn.describe_execution(executionArn=arn)
                        self.finalize(status_change_event(self.region, described), None)
                    except Exception:  # the next poll tries this one again; the others go on
                        logger.exception("finalizing an execution failed", extra={"execution": arn})
                        continue
                    self.seen.add(arn)
                    handled += 1
        return handled

    def forget_finished(self) -> int:
        """Drop the oldest finished executions beyond `keep` from moto (in this process), each only once
        it succeeded or was finalized; returns how many. Running ones are never touched."""
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        def oldest_finished(executions: list[Any]) -> list[Any]:
            finished = []
            for execution in executions:  # in start order
                status = getattr(execution.exec_status, "value", None)  # None until its worker starts
                finalized = status in FINAL_STATUSES and execution.execution_arn in self.seen
                if status == "SUCCEEDED" or finalized:
                    finished.append(execution)
            return finished[: max(0, len(finished) - self.keep)]

        backend = stepfunctions_parser_backends[ACCOUNT][self.region]
        dropped = forget_executions(backend.describe_state_machine(self.arn), oldest_finished)
        for execution in dropped:
            self.seen.discard(execution.execution_arn)
        return len(dropped)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
                self.forget_finished()
            except Exception:  # the next poll retries what failed
                logger.exception("execution watcher poll failed")


def as_entry_point(fn: str, handler: Handler) -> Handler:
    """The task handler as its own Lambda function would run it: its calls are recorded as `task:<fn>`
    with the sizes of its event and result (a Lambda payload, and the state the ASL keeps)."""
    if not call_record.enabled():
        return handler

    def run(event: dict[str, Any], context: Any) -> Any:
        with call_record.entry(f"task:{fn}"):
            started, cpu = time.perf_counter(), time.thread_time()
            result = handler(event, context)
            call_record.payload(
                "lambda",
                seconds=round(time.perf_counter() - started, 4),
                cpu_seconds=round(time.thread_time() - cpu, 4),
                event_bytes=len(json.dumps(event).encode()),
                result_bytes=len(json.dumps(result).encode()),
            )
            return result

    return run


class LocalAgent:
    """Registers the task handlers, deploys the state machine and watches its executions."""

    def __init__(
        self, server: LambdaInvokeServer, region: str, name: str, handlers: Mapping[str, Handler]
    ) -> None:
        self.server = server
        self.region = region
        self.name = name
        self.prefix = f"{name}-"
        recorded = {fn: as_entry_point(fn, handler) for fn, handler in handlers.items()}
        for fn, handler in recorded.items():
            server.register(f"{self.prefix}{fn}", handler)
        self.arn = deploy_state_machine(region, name, self.prefix)
        self.watcher = ExecutionWatcher(region, self.arn, recorded[FINALIZER])

    def start(self) -> LocalAgent:
        self.watcher.start()
        return self

    def stop(self) -> None:
        self.watcher.stop()
        for fn in list(self.server.handlers):
            if fn.startswith(self.prefix):
                del self.server.handlers[fn]

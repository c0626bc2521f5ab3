"""Powertools Logger, Metrics and Tracer for every function.

- Logs are JSON lines with `run_id`/`session_id` as correlation keys when the event carries them, and
  every line goes through `scrub`: a bearer token, a JWT or an `?access_token=` never reaches a log.
- Metrics are CloudWatch EMF (namespace `Riadex`): `RunsEnded` by `Status`, `Steps`, `ToolCalls` by
  `tool`/`outcome`, `InputTokens`/`OutputTokens`, `SandboxAcquireSeconds`, `StreamSeconds`.
- The Tracer (X-Ray) is active in Lambda only; it stays off locally and in tests.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from riadex.application import telemetry

SERVICE = "riadex"
NAMESPACE = "Riadex"
REDACTED = "[REDACTED]"
METRICS = (
    "RunsEnded",
    "Steps",
    "ToolCalls",
    "InputTokens",
    "OutputTokens",
    "SandboxAcquireSeconds",
    "StreamSeconds",
    "SandboxesReaped",
)
"""Every metric the code emits (the template's dashboard shows each; a test checks)."""

_SECRETS = (
    re.compile(r"(?i)(access_token=)[^&\s\"'\\]+"),
    re.compile(r"(?i)(bearer\s+)[^\s\"'\\,]+"),
    re.compile(r"()eyJ[\w-]+\.eyJ[\w-]+\.[\w-]*"),  # a JWT anywhere
    re.compile(r"(?i)((?:secret|password|api_key|apikey|token)\"?\s*[:=]\s*\"?)[^\s\"',}&]+"),
)


def scrub(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: Any) -> str:
        return scrub(super().format(record))


logger = Logger(service=SERVICE, logger_formatter=ScrubbingFormatter())
tracer = Tracer(service=SERVICE, disabled=not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))

_UNITS = {"Count": MetricUnit.Count, "Seconds": MetricUnit.Seconds}


def _emf_sink(name: str, value: float, unit: str, dimensions: dict[str, str]) -> None:
    """Each value goes out at once as its own EMF document (a log line CloudWatch turns into a
    metric): nothing to flush, so the streaming function and threads report the same way. Powertools'
    POWERTOOLS_METRICS_DISABLED turns them off (the local stack does, unless set)."""
    if is_metrics_disabled():
        return
    metric_unit = _UNITS.get(unit, MetricUnit.Count)
    with single_metric(name=name, unit=metric_unit, value=value, namespace=NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, dim in dimensions.items():
            metric.add_dimension(name=key, value=str(dim)[:250] or "-")


def enable_metrics() -> None:
    telemetry.install(_emf_sink)


Handler = Callable[[dict[str, Any], Any], Any]


def _loop_counts(payload: Any) -> dict[str, int]:
    loop = payload.get("loop") if isinstance(payload, dict) else None
    if not isinstance(loop, dict):
        return {}
    return {k: int(loop.get(k) or 0) for k in ("steps_done", "input_tokens", "output_tokens")}


def _report(name: str, event: Any, result: Any, seconds: float) -> None:
    if name == "acquire-sandbox":
        telemetry.emit("SandboxAcquireSeconds", seconds, "Seconds")
    if (
        isinstance(result, dict)
        and name in ("finish-run", "fail-run", "finalize-run")
        and result.get("status")
    ):
        telemetry.emit("RunsEnded", 1, Status=str(result["status"]))
    before, after = _loop_counts(event), _loop_counts(result)
    if before and after:
        for key, metric in (
            ("steps_done", "Steps"),
            ("input_tokens", "InputTokens"),
            ("output_tokens", "OutputTokens"),
        ):
            if after[key] > before[key]:
                telemetry.emit(metric, after[key] - before[key])


def _id_in(path: str, prefix: str) -> str | None:
    found = re.search(rf"\b{prefix}_[0-9a-f]{{32}}\b", path)
    return found.group(0) if found else None


def instrument(name: str, handler: Handler) -> Handler:
    """The Lambda entry of function `name`: JSON logs with the run's correlation keys, its EMF
    metrics, an X-Ray segment per invocation."""
    enable_metrics()

    @functools.wraps(handler)
    def observed(event: Any, context: Any) -> Any:
        if isinstance(event, dict):
            detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
            path = str(event.get("path") or "")  # an API request: the ids in its path
            keys = {
                "run_id": event.get("run_id") or (detail or {}).get("name") or _id_in(path, "run"),
                "session_id": event.get("session_id") or _id_in(path, "ses"),
            }
            logger.append_keys(function=name, **{k: v for k, v in keys.items() if v})
            if keys["run_id"]:
                tracer.put_annotation("run_id", str(keys["run_id"]))
        started = time.monotonic()
        result = handler(event, context)
        _report(name, event, result, time.monotonic() - started)
        return result

    # Off (outside Lambda, e.g. the local stack), X-Ray's wrapper would still build a dummy segment per call.
    traced = observed if tracer.disabled else tracer.capture_lambda_handler(observed, capture_response=False)
    injected: Handler = logger.inject_lambda_context(traced, clear_state=True)

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        if hasattr(context, "aws_request_id"):
            return injected(event, context)
        logger.remove_keys(["function", "run_id", "session_id"])  # no Lambda context (tests, scripts)
        return traced(event, context)

    return entry

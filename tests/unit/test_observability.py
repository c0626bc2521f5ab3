"""Logs are JSON with the run's correlation keys and never carry a token; metrics go out as EMF."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from riadex.application import telemetry
from riadex.entrypoints.observability import REDACTED, instrument, logger, scrub

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c3JfMSJ9.c2lnbmF0dXJlLWJ5dGVz"


class _Context:
    function_name = "riadex-test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:riadex-test"
    aws_request_id = "req-1"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the Powertools handler writes (it holds the stream it was created with)."""
    buffer = io.StringIO()
    previous = logger.registered_handler.setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "text",
    [
        f"GET /api/v1/sessions/ses_1/events?access_token={JWT}&after=3",
        f"Authorization: Bearer {JWT}",
        "authorization: bearer opaque-token-123 and more",
        f'{{"token": "{JWT}"}}',
        f"the raw jwt {JWT} in a message",
    ],
)
def test_scrub_removes_tokens(text: str) -> None:
    cleaned = scrub(text)
    assert JWT not in cleaned
    assert "opaque-token-123" not in cleaned
    assert REDACTED in cleaned


def test_logs_carry_correlation_keys_and_no_token(
    capfd: pytest.CaptureFixture[str], log_lines: io.StringIO
) -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.info("handling", extra={"url": f"/api/v1/runs/run_1/events?access_token={JWT}"})
        logging.getLogger("riadex.application.sandboxes").warning("header was Bearer %s", JWT)
        return {"status": "completed"}

    result = instrument("finish-run", handler)({"run_id": "run_1", "session_id": "ses_1"}, _Context())
    assert result == {"status": "completed"}
    out = capfd.readouterr().out + log_lines.getvalue()
    assert JWT not in out
    lines = _lines(out)
    (handled,) = [line for line in lines if line.get("message") == "handling"]
    assert handled["run_id"] == "run_1"
    assert handled["session_id"] == "ses_1"
    assert handled["function"] == "finish-run"
    assert handled["function_request_id"] == "req-1"
    assert REDACTED in handled["url"]
    # The run's end went out as an EMF metric with its status as a dimension.
    (emf,) = [line for line in lines if "RunsEnded" in line]
    directive = emf["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Riadex"
    assert ["service", "Status"] in [sorted(d, key=str.lower) for d in directive["Dimensions"]] or (
        ["Status", "service"] in directive["Dimensions"]
    )
    assert emf["Status"] == "completed"
    assert emf["RunsEnded"] == [1.0] or emf["RunsEnded"] == 1.0


def test_loop_counters_become_metrics(capfd: pytest.CaptureFixture[str]) -> None:
    def think(event: dict[str, Any], context: Any) -> dict[str, Any]:
        telemetry.emit("ToolCalls", 1, tool="shell_exec", outcome="called")
        loop = {**event["loop"], "steps_done": 2, "input_tokens": 150, "output_tokens": 40}
        return {**event, "loop": loop}

    before = {"steps_done": 1, "input_tokens": 100, "output_tokens": 10}
    instrument("think", think)({"run_id": "run_2", "session_id": "ses_2", "loop": before}, _Context())
    metrics = {
        name: line
        for line in _lines(capfd.readouterr().out)
        if "_aws" in line
        for name in [line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]]
    }
    assert set(metrics) >= {"Steps", "InputTokens", "OutputTokens", "ToolCalls"}
    assert metrics["InputTokens"]["InputTokens"] in (50, 50.0, [50.0])
    assert metrics["ToolCalls"]["tool"] == "shell_exec"
    assert metrics["ToolCalls"]["outcome"] == "called"


def test_api_requests_are_correlated_by_the_ids_in_their_path(log_lines: io.StringIO) -> None:
    sid, rid = "ses_" + "a" * 32, "run_" + "b" * 32

    def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.info("request")
        return {"statusCode": 200}

    instrument("api", api)({"path": f"/api/v1/sessions/{sid}/runs/{rid}", "httpMethod": "GET"}, _Context())
    (line,) = [json.loads(x) for x in log_lines.getvalue().splitlines() if '"request"' in x]
    assert line["session_id"] == sid
    assert line["run_id"] == rid

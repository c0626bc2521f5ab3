"""The state machine's Lambda tasks and the execution finalizer.

Each handler takes the state's payload (only ids and counters) and makes one call into
RunService. Failures that are worth retrying surface as `TransientError`, which the state machine's
Retry names; anything else goes to its Catch and the run fails with an `error` event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from riadex.application.loop_state import LoopState
from riadex.application.runs import RunService
from riadex.domain.errors import DomainError
from riadex.domain.models import RunStatus

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class TransientError(Exception):
    """A failure a retry may cure (a DynamoDB hiccup): the state machine retries it with backoff."""


@contextmanager
def transient_errors() -> Iterator[None]:
    """A domain error that says `retryable` becomes the state machine's TransientError."""
    try:
        yield
    except DomainError as exc:
        if exc.retryable:
            raise TransientError(exc.message) from exc
        raise


def _error_message(error: dict[str, Any]) -> tuple[str, str]:
    """Step Functions' Catch output `{Error, Cause}`; Cause is the Lambda's JSON error when it has one."""
    code = str(error.get("Error") or "States.TaskFailed")
    cause = str(error.get("Cause") or "")
    try:
        parsed = json.loads(cause)
        message = str(parsed.get("errorMessage") or cause) if isinstance(parsed, dict) else cause
    except ValueError:
        message = cause
    return code, message or code


def make_handlers(service: Callable[[], RunService]) -> dict[str, Handler]:
    """The handlers by function name; `service` is called per invocation (built once per container)."""

    def start_run(event: dict[str, Any], _: Any) -> dict[str, Any]:
        with transient_errors():
            return {"proceed": service().start(event["run_id"])}

    def finish_run(event: dict[str, Any], _: Any) -> dict[str, Any]:
        usage = event.get("usage") or (LoopState.of(event["loop"]).usage() if "loop" in event else None)
        with transient_errors():
            run = service().finish(event["run_id"], RunStatus.COMPLETED, usage=usage)
        return {"status": run.status.value}

    def fail_run(event: dict[str, Any], _: Any) -> dict[str, Any]:
        code, message = _error_message(event.get("error") or {})
        usage = LoopState.of(event["loop"]).usage() if isinstance(event.get("loop"), dict) else None
        retryable = code == "TransientError"
        if retryable:  # the state machine's retries are used up
            code, message = "retries_exhausted", f"{message} (gave up after retries; try again later)"
        with transient_errors():
            run = service().fail(event["run_id"], _snake(code), message, retryable=retryable, usage=usage)
        return {"status": run.status.value}

    def finalize_run(event: dict[str, Any], _: Any) -> dict[str, Any]:
        """EventBridge "Step Functions Execution Status Change": the execution name is the run id."""
        detail = event.get("detail") or {}
        cause = detail.get("cause") or detail.get("error")
        with transient_errors():
            run = service().finalize_execution(str(detail.get("name", "")), str(detail.get("status")), cause)
        return {"status": run.status.value if run else None}

    return {
        "start-run": start_run,
        "finish-run": finish_run,
        "fail-run": fail_run,
        "finalize-run": finalize_run,
    }


def _snake(code: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in code.replace(".", "_")).lstrip("_")
    return out.replace("__", "_")


def lambda_handler(name: str) -> Handler:
    """A Lambda entry for one task: the container is built on the first invocation, then reused."""
    from riadex.bootstrap import Container, bootstrap

    built: list[Container] = []

    def service() -> RunService:
        if not built:
            built.append(bootstrap())
        return built[0].run_service

    from riadex.entrypoints.observability import instrument

    return instrument(name, make_handlers(service)[name])

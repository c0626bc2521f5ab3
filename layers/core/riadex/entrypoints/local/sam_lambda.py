"""The state machine's tasks on `sam local start-lambda`: the built functions, in Lambda's runtime.

With LOCAL_LAMBDA_ENDPOINT set, the local stack's Invoke endpoint forwards each task to the function of
the same name in the template (`start-run` → StartRunFunction) and answers as Lambda would. One
difference is smoothed here: SAM CLI marks an unhandled error with `X-Amz-Function-Error` only when the
body has exactly Lambda's error keys, and the runtime interface client (awslambdaric 4.x) adds
`requestId` to them, so a failed task came back as a success carrying the error. A body made only of
those keys is a failure, whatever the header says, so the ASL's Retry and Catch see the error type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from riadex.entrypoints.local.lambda_invoke import FunctionError

ERROR_KEYS = frozenset({"errorType", "errorMessage", "stackTrace", "requestId", "cause"})


def logical_id(name: str) -> str:
    """The template's function for a local task name: `start-run` → `StartRunFunction`."""
    return "".join(part.capitalize() for part in name.split("-")) + "Function"


def is_unhandled_error(body: Any) -> bool:
    """The runtime's report of an exception the handler raised (and nothing a handler returns)."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("errorType"), str)
        and isinstance(body.get("errorMessage"), str)
        and set(body) <= ERROR_KEYS
    )


class SamLocalLambda:
    def __init__(self, endpoint: str, timeout: float = 900.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._client = httpx.Client(timeout=timeout, trust_env=False)

    def invoke(self, function: str, event: Any) -> Any:
        url = f"{self.endpoint}/2015-03-31/functions/{function}/invocations"
        response = self._client.post(url, json=event)
        body = response.json() if response.content else None
        if response.status_code != 200:
            raise FunctionError("ServiceException", f"sam local answered {response.status_code}: {body}")
        if response.headers.get("X-Amz-Function-Error") or is_unhandled_error(body):
            error = body if isinstance(body, dict) else {}
            raise FunctionError(str(error.get("errorType", "Unhandled")), str(error.get("errorMessage", "")))
        return body

    def handler(self, name: str) -> Callable[[dict[str, Any], Any], Any]:
        function = logical_id(name)
        return lambda event, context: self.invoke(function, event)

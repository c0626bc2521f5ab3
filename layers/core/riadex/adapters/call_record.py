"""A tap on what the code really calls, for the template tier (tests/template, docs/least-privilege.md).

With `RIADEX_CALL_RECORD=<dir>` set, every AWS call made through botocore (boto3 and pynamodb alike),
every call to a sandbox's tool server, every bootstrap's resource names and every payload crossing a
platform limit are appended as JSON lines to `<dir>/calls-<pid>.jsonl`, each with the entry point that
was running: `task:<name>` (a state machine task), `http <METHOD> <path>` (an API request),
`module:<dotted>` (a scheduled handler). The local stack runs every function in one process; the entry
point is how the tier finds the function the template maps it to, and checks the call against that
function's own policies. Without the variable nothing is installed and nothing is written.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ENV = "RIADEX_CALL_RECORD"

_entry: contextvars.ContextVar[str | None] = contextvars.ContextVar("riadex_entry", default=None)
_lock = threading.Lock()
_installed = False
_files: dict[int, Any] = {}

# The request parameters that name the resource of a call (what IAM evaluates), and nothing else:
# no item, body, secret or token is written.
_RESOURCE_PARAMS = (
    "TableName",
    "IndexName",
    "Bucket",
    "Key",
    "Prefix",
    "CopySource",
    "stateMachineArn",
    "executionArn",
    "cluster",
    "taskDefinition",
    "tasks",
    "task",
    "resourceArn",
    "Name",
    "Names",
    "Path",
    "SecretId",
    "FunctionName",
)


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def current_entry() -> str | None:
    return _entry.get()


@contextmanager
def entry(name: str) -> Iterator[None]:
    """Marks everything called inside (in this thread or task, and what copies its context) as `name`'s."""
    token = _entry.set(name)
    try:
        yield
    finally:
        _entry.reset(token)


def _write(record: dict[str, Any]) -> None:
    directory = os.environ.get(ENV)
    if not directory:
        return
    record.setdefault("entry", _entry.get())
    line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
    pid = os.getpid()
    with _lock:
        handle = _files.get(pid)
        if handle is None:
            Path(directory).mkdir(parents=True, exist_ok=True)
            handle = _files[pid] = open(Path(directory) / f"calls-{pid}.jsonl", "a", buffering=1)  # noqa: SIM115
        handle.write(line)


def _resource_params(params: Mapping[str, Any]) -> dict[str, Any]:
    picked = {key: params[key] for key in _RESOURCE_PARAMS if key in params}
    if "TransactItems" in params:  # DynamoDB: IAM checks each item's own action on its own table
        picked["TransactItems"] = [
            {kind: {"TableName": spec.get("TableName")} for kind, spec in item.items()}
            for item in params["TransactItems"]
        ]
    if "RequestItems" in params:  # BatchGetItem / BatchWriteItem
        picked["RequestItems"] = sorted(params["RequestItems"])
    if "tags" in params:  # ECS RunTask with tags also needs ecs:TagResource
        picked["tags"] = len(params["tags"] or [])
    if "Delete" in params and isinstance(params["Delete"], dict):  # S3 DeleteObjects
        picked["Objects"] = [obj.get("Key") for obj in params["Delete"].get("Objects", [])]
    return picked


def _payload_sizes(operation: str, params: Mapping[str, Any]) -> dict[str, int]:
    """The sizes Step Functions caps (256 KB): an execution's input, a task token's answer."""
    sizes: dict[str, int] = {}
    for key in ("input", "output"):
        value = params.get(key)
        if isinstance(value, str):
            sizes[key] = len(value.encode())
    return sizes


def _on_aws_call(params: Mapping[str, Any], model: Any, **_: Any) -> None:
    service = model.service_model
    record: dict[str, Any] = {
        "k": "aws",
        "service": service.signing_name or service.endpoint_prefix,
        "op": model.name,
        "params": _resource_params(params),
    }
    sizes = _payload_sizes(model.name, params)
    if sizes:
        record["sizes"] = sizes
    _write(record)


def install() -> bool:
    """Hooks botocore (every session created from now on) when RIADEX_CALL_RECORD is set; idempotent."""
    global _installed
    if _installed or not enabled():
        return _installed
    from botocore import handlers

    handlers.BUILTIN_HANDLERS.append(("provide-client-params", _on_aws_call))
    try:  # a default boto3 session made before this point gets the hook too
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            boto3.DEFAULT_SESSION._session.register("provide-client-params", _on_aws_call)
    except ImportError:  # pragma: no cover - boto3 ships with botocore here
        pass
    _installed = True
    return True


def bindings(values: Mapping[str, Any]) -> None:
    """The resource names this process was configured with, by environment variable name (the
    template sets the same variables from its resources: that is how the tier maps local names)."""
    if enabled():
        _write({"k": "bind", "values": {k: v for k, v in values.items() if isinstance(v, str) and v}})


def tool_call(endpoint: str, method: str, path: str) -> None:
    """A call to a sandbox's tool server (the tier checks the caller can reach the sandbox's port)."""
    if enabled():
        _write({"k": "tool", "endpoint": endpoint, "method": method, "path": path.split("?", 1)[0]})


def payload(boundary: str, **fields: Any) -> None:
    """A payload crossing a platform boundary (`lambda`: a task's event and result; `http`: a request)."""
    if enabled():
        _write({"k": "payload", "boundary": boundary, **fields})

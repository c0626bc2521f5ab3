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


def _on_aws_call(params: Mapping[str, Any], model: Any, context: Any = None, **_: Any) -> None:
    service = model.service_model
    record: dict[str, Any] = {
        "k": "aws",
        "service": service.signing_name or service.endpoint_prefix,
        "op": model.name,
        "params": _resource_params(params),
    }
    if isinstance(context, dict) and context.get("is_presign_request"):
        # No call now: a URL the client uses later, authorized as this function. botocore builds a
        # presigned POST on CreateBucket's model; the client's request is then an object upload.
        record["presign"] = True
        if model.name == "CreateBucket":
            record["op"] = "PresignedPost"
    sizes = _payload_sizes(model.name, params)
    if sizes:
        record["sizes"] = sizes
    if isinstance(context, dict) and os.environ.get(UNITS_ENV):
        context["riadex_params"] = params
    _write(record)


# --- DynamoDB request units (RIADEX_CALL_RECORD_UNITS=1, for `make bench`'s cost count) -------------
# moto reports no consumed capacity, so units are counted the way on-demand bills them: a read unit
# per 4 KB read (half for an eventually consistent read), a write unit per 1 KB written, twice that in
# a transaction; an update is billed on the item's size, taken from the last time it was seen whole.
UNITS_ENV = "RIADEX_CALL_RECORD_UNITS"
_item_sizes: dict[str, int] = {}


def _value_size(value: Mapping[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        return len(str(inner)) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + _item_size(inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    return sum(len(str(v)) for v in inner)  # SS, NS, BS


def _item_size(item: Mapping[str, Any] | None) -> int:
    return sum(len(name.encode()) + _value_size(v) for name, v in (item or {}).items())


def _key(table: str, key: Mapping[str, Any] | None) -> str:
    return table + json.dumps(key or {}, sort_keys=True, default=str)


def _units(size: int, per: int) -> int:
    return max(1, -(-size // per))


def _write_units(kind: str, spec: Mapping[str, Any]) -> int:
    table = str(spec.get("TableName"))
    if kind in ("Put", "PutRequest"):
        item = spec.get("Item") or {}
        size = _item_size(item)
        return _units(size, 1024)
    known = _item_sizes.get(_key(table, spec.get("Key")))
    if known is None:
        known = _item_size(spec.get("Key")) + sum(
            _value_size(v) for v in (spec.get("ExpressionAttributeValues") or {}).values()
        )
    return _units(known, 1024)


def _on_aws_result(parsed: Any, model: Any, context: Any = None, **_: Any) -> None:
    if model.service_model.signing_name != "dynamodb" or not isinstance(context, dict):
        return
    params = context.get("riadex_params")
    if params is None or not isinstance(parsed, dict):
        return
    op, reads, writes = model.name, 0.0, 0.0
    table = str(params.get("TableName", ""))
    factor = 1.0 if params.get("ConsistentRead") else 0.5
    if op == "GetItem":
        reads = _units(_item_size(parsed.get("Item")), 4096) * factor
        if parsed.get("Item"):
            _item_sizes[_key(params["TableName"], params.get("Key"))] = _item_size(parsed["Item"])
    elif op in ("Query", "Scan"):
        reads = _units(sum(_item_size(i) for i in parsed.get("Items", [])), 4096) * factor
    elif op == "BatchGetItem":
        reads = sum(
            _units(_item_size(i), 4096) * 0.5 for items in parsed.get("Responses", {}).values() for i in items
        )
    elif op == "TransactGetItems":
        reads = sum(2 * _units(_item_size(r.get("Item")), 4096) for r in parsed.get("Responses", []))
    elif op in ("PutItem", "UpdateItem", "DeleteItem"):
        writes = _write_units({"PutItem": "Put"}.get(op, op), params)
    elif op == "TransactWriteItems":
        parts = [
            (kind, str(spec.get("TableName")), 2 * _write_units(kind, spec))
            for item in params["TransactItems"]
            for kind, spec in item.items()
        ]
        for kind, name, units in parts:  # one line per item: where the units go
            _write({"k": "units", "op": f"{op}.{kind}", "table": name, "read": 0, "write": units})
        return
    elif op == "BatchWriteItem":
        writes = sum(
            _write_units(kind, {"TableName": table, **spec})
            for table, requests in params["RequestItems"].items()
            for request in requests
            for kind, spec in request.items()
        )
    if reads or writes:
        _write({"k": "units", "op": op, "table": table, "read": reads, "write": writes})


def install() -> bool:
    """Hooks botocore (every session created from now on) when RIADEX_CALL_RECORD is set; idempotent."""
    global _installed
    if _installed or not enabled():
        return _installed
    from botocore import handlers

    handlers.BUILTIN_HANDLERS.append(("provide-client-params", _on_aws_call))
    if os.environ.get(UNITS_ENV):
        handlers.BUILTIN_HANDLERS.append(("after-call", _on_aws_result))
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

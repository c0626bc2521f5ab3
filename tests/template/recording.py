"""The recording the scenarios left (riadex.adapters.call_record), read back and put in deployed terms:
each AWS call becomes the IAM (action, resource ARN) pairs the deployed function would be checked for,
with the local resource names replaced by the deployed ones (matched through the environment variables
that both the local settings and the template's functions carry)."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.template.deployed import ACCOUNT, PARTITION, REGION, Deployed

ENV = "RIADEX_CALL_RECORD"

# S3 operations whose IAM action is not s3:<Operation> (the Service Authorization Reference).
_S3_ACTIONS = {
    "HeadObject": ["s3:GetObject"],
    "ListObjectsV2": ["s3:ListBucket"],
    "ListObjects": ["s3:ListBucket"],
    "HeadBucket": ["s3:ListBucket"],
    "DeleteObjects": ["s3:DeleteObject"],
    "CopyObject": ["s3:GetObject", "s3:PutObject"],
    "CreateMultipartUpload": ["s3:PutObject"],
    "UploadPart": ["s3:PutObject"],
    "CompleteMultipartUpload": ["s3:PutObject"],
    "AbortMultipartUpload": ["s3:AbortMultipartUpload"],
}
# DynamoDB transactions: IAM checks each item's own action on its own table.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


@dataclass
class Call:
    entry: str | None
    service: str
    op: str
    params: dict[str, Any]
    sizes: dict[str, int] = field(default_factory=dict)


@dataclass
class Recording:
    calls: list[Call] = field(default_factory=list)
    bindings: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tools: list[dict[str, Any]] = field(default_factory=list)
    payloads: list[dict[str, Any]] = field(default_factory=list)
    files: int = 0

    @property
    def empty(self) -> bool:
        return not self.calls and not self.payloads


def record_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def load(directory: Path) -> Recording:
    recording = Recording()
    for path in sorted(directory.glob("calls-*.jsonl")):
        recording.files += 1
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a killed process
                continue
            kind = record.get("k")
            if kind == "aws":
                recording.calls.append(
                    Call(
                        record.get("entry"),
                        record["service"],
                        record["op"],
                        record.get("params", {}),
                        record.get("sizes", {}),
                    )
                )
            elif kind == "bind":
                for name, value in record["values"].items():
                    recording.bindings[name].add(value)
            elif kind == "tool":
                recording.tools.append(record)
            elif kind == "payload":
                recording.payloads.append(record)
    return recording


class Naming:
    """Local resource names → the deployed stack's, through the environment variables both carry."""

    def __init__(self, stack: Deployed, recording: Recording) -> None:
        deployed_values: dict[str, Any] = {}
        for function in stack.functions.values():
            for name, value in function.environment.items():
                deployed_values.setdefault(name, value)
        self.names: dict[str, str] = {}
        self.prefixes: list[tuple[str, str]] = []
        for name, locals_ in recording.bindings.items():
            target = deployed_values.get(name)
            if not isinstance(target, str):
                continue
            for local in locals_:
                self.names[local] = target
                if name.endswith("_PREFIX"):
                    self.prefixes.append((local.rstrip("/") + "/", target.rstrip("/") + "/"))
                if ":stateMachine:" in local and ":stateMachine:" in target:
                    self.names[local.rsplit(":", 1)[1]] = target.rsplit(":", 1)[1]

    def name(self, local: str) -> str:
        if local in self.names:
            return self.names[local]
        for old, new in self.prefixes:
            if local.startswith(old):
                return new + local[len(old) :]
        return local

    def state_machine_arn(self, arn: str) -> str:
        return self.name(arn)

    def execution_arn(self, arn: str) -> str:
        # arn:aws:states:<region>:<account>:execution:<state machine name>:<execution name>
        parts = arn.split(":")
        if len(parts) >= 8:
            parts[6] = self.name(parts[6])
            parts[3], parts[4] = REGION, ACCOUNT
        return ":".join(parts)


def _table_arn(naming: Naming, table: str, index: str | None = None) -> str:
    arn = f"arn:{PARTITION}:dynamodb:{REGION}:{ACCOUNT}:table/{naming.name(table)}"
    return f"{arn}/index/{index}" if index else arn


def required(call: Call, naming: Naming) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS would check for this call."""
    p, op, service = call.params, call.op, call.service
    if service == "dynamodb":
        if op == "TransactWriteItems" or op == "TransactGetItems":
            return [
                (_TRANSACT_ITEM_ACTIONS[kind], _table_arn(naming, spec["TableName"]))
                for item in p.get("TransactItems", [])
                for kind, spec in item.items()
            ]
        if op in ("BatchWriteItem", "BatchGetItem"):
            return [(f"dynamodb:{op}", _table_arn(naming, table)) for table in p.get("RequestItems", [])]
        return [(f"dynamodb:{op}", _table_arn(naming, p.get("TableName", "*"), p.get("IndexName")))]
    if service == "s3":
        bucket = naming.name(str(p.get("Bucket", "*")))
        actions = _S3_ACTIONS.get(op, [f"s3:{op}"])
        if op == "PresignedPost":  # the upload it authorizes; its key is chosen in the POST's fields
            return [("s3:PutObject", f"arn:{PARTITION}:s3:::{bucket}/*")]
        if op in ("ListObjectsV2", "ListObjects", "HeadBucket", "CreateBucket"):
            return [(a, f"arn:{PARTITION}:s3:::{bucket}") for a in actions]
        if op == "DeleteObjects":
            return [
                (a, f"arn:{PARTITION}:s3:::{bucket}/{key}") for a in actions for key in p.get("Objects", [])
            ]
        return [(a, f"arn:{PARTITION}:s3:::{bucket}/{p.get('Key', '*')}") for a in actions]
    if service == "states":
        if "executionArn" in p:
            return [(f"states:{op}", naming.execution_arn(str(p["executionArn"])))]
        if "stateMachineArn" in p:
            return [(f"states:{op}", naming.state_machine_arn(str(p["stateMachineArn"])))]
        # SendTaskSuccess/Failure/Heartbeat name a task token, not a resource.
        return [(f"states:{op}", "*")]
    if service == "ssm":
        names = p.get("Names") or [p.get("Name") or p.get("Path") or "*"]
        return [
            (
                f"ssm:{op}",
                f"arn:{PARTITION}:ssm:{REGION}:{ACCOUNT}:parameter/{naming.name(str(n)).lstrip('/')}",
            )
            for n in names
        ]
    if service == "secretsmanager":
        secret = str(p.get("SecretId", "*"))
        arn = (
            secret
            if secret.startswith("arn:")
            else f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}-AbCdEf"
        )
        return [(f"secretsmanager:{op}", arn)]
    if service == "ecs":
        cluster = naming.name(str(p.get("cluster", "default")).rsplit("/", 1)[-1])
        if op == "RunTask":
            definition = naming.name(str(p.get("taskDefinition", "*")))
            pairs = [("ecs:RunTask", definition)]
            if p.get("tags") is not None or "tags" in p:
                pairs.append(("ecs:TagResource", f"arn:{PARTITION}:ecs:{REGION}:{ACCOUNT}:task/{cluster}/*"))
            return pairs
        tasks = p.get("tasks") or [p.get("task", "*")]
        return [
            (
                f"ecs:{op}",
                f"arn:{PARTITION}:ecs:{REGION}:{ACCOUNT}:task/{cluster}/{str(t).rsplit('/', 1)[-1]}",
            )
            for t in tasks
        ]
    if service == "lambda":
        name = str(p.get("FunctionName", "*")).split(":function:")[-1].split(":")[0]
        return [(f"lambda:{op}", f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{naming.name(name)}")]
    return [(f"{service}:{op}", "*")]

"""Keep DynamoDB's contents across restarts of the local stack.

moto keeps everything in memory, so the stack writes every table's items to one JSON file (atomically:
a temporary file, then a rename) on shutdown and every few seconds while it runs, and loads it on start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_BATCH = 25  # BatchWriteItem's limit


def save(client: Any, table_names: list[str], path: Path) -> int:
    tables: dict[str, list[dict[str, Any]]] = {}
    count = 0
    for name in table_names:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            items.extend(page["Items"])
        tables[name] = items
        count += len(items)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "tables": tables}))
    os.replace(tmp, path)
    return count


def load(client: Any, path: Path) -> int:
    if not path.exists():
        return 0
    tables: dict[str, list[dict[str, Any]]] = json.loads(path.read_text())["tables"]
    count = 0
    for name, items in tables.items():
        for start in range(0, len(items), _BATCH):
            requests = [{"PutRequest": {"Item": item}} for item in items[start : start + _BATCH]]
            pending: dict[str, Any] = {name: requests}
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        count += len(items)
    return count


def save_objects(client: Any, directory: Path) -> int:
    """Mirror every object of the local object store under `directory/<bucket>/<key>`: the bytes of
    uploads and large outputs come back after a restart, like the tables that point to them. Only new or
    changed objects are written; files of objects that are gone (a deleted session's) are removed."""
    kept: set[Path] = set()
    for bucket in client.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                target = object_path(directory, name, item["Key"])
                if target is None:
                    continue
                kept.add(target)
                if target.exists() and target.stat().st_size == item["Size"]:
                    continue  # keys are never rewritten with other bytes of the same size here
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                tmp.write_bytes(client.get_object(Bucket=name, Key=item["Key"])["Body"].read())
                os.replace(tmp, target)
    if directory.exists():
        for path in sorted(directory.rglob("*"), reverse=True):
            if path.is_file() and path not in kept:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return len(kept)


def load_objects(client: Any, directory: Path) -> int:
    if not directory.is_dir():
        return 0
    count = 0
    for bucket_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket_dir.name not in existing:
            client.create_bucket(Bucket=bucket_dir.name)
        for path in sorted(p for p in bucket_dir.rglob("*") if p.is_file() and not p.name.endswith(".tmp")):
            key = path.relative_to(bucket_dir).as_posix()
            client.put_object(Bucket=bucket_dir.name, Key=key, Body=path.read_bytes())
            count += 1
    return count


def object_path(directory: Path, bucket: str, key: str) -> Path | None:
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts) or "/" in bucket or bucket in (".", ".."):
        return None  # not a key this project writes; never a path outside the directory
    return directory.joinpath(bucket, *parts)

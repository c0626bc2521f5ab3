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

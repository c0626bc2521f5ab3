"""Make moto's DynamoDB as atomic as DynamoDB, so the local stack and the tests can rely on it.

DynamoDB applies a conditional write or a transaction atomically. moto, serving requests on many
threads, evaluates a condition and then writes, and rolls a failed transaction back by restoring a copy
of the whole table, so two concurrent writers can both pass a condition or one can undo the other's
write. The event log's gap-free seq and the one-active-run rule depend on that atomicity, so the local
stack serializes moto's DynamoDB operations under one lock. Nothing of ours is mocked: this only gives
the emulator the guarantee the real service documents.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
)
_lock = threading.RLock()


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    wrapper.__riadex_serialized__ = True  # type: ignore[attr-defined]
    return wrapper


def make_dynamodb_atomic() -> None:
    """Idempotent: wrap each DynamoDB backend operation once."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if not getattr(method, "__riadex_serialized__", False):
            setattr(DynamoDBBackend, name, _serialized(method))

"""Make moto's DynamoDB as atomic as DynamoDB, so the local stack and the tests can rely on it.

DynamoDB applies a conditional write or a transaction atomically. moto, serving requests on many
threads, evaluates a condition and then writes, and rolls a failed transaction back by restoring a copy
of the whole table, so two concurrent writers can both pass a condition or one can undo the other's
write. The event log's gap-free seq and the one-active-run rule depend on that atomicity, so the local
stack serializes moto's DynamoDB operations under one lock. Nothing of ours is mocked: this only gives
the emulator the guarantee the real service documents.

Under that lock, moto's own rollback (a deep copy of every table a transaction touches, made before
each transaction) is also replaced by a copy of just the items it touches: the whole-table copy made
every append cost time in proportion to the table (3 ms at 100 items, 90 ms at 10,000, 390 ms at
30,000), and a local stack keeps its tables across restarts.

StopExecution is made final, as in Step Functions: once an execution is stopped it ends ABORTED. moto
5.2.5 marks the program stopped, but the state it was in may then fail on the stopped program (a
Parallel branch starting, a task whose frame was torn down) and moto's `set_error` overwrote the stop,
so a stopped execution could end FAILED; those late errors are now ignored once the stop is recorded.
A stop also wakes a waitForTaskToken task (a run waiting for the user), which moto left waiting until
the task's timeout.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
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
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()
_depth = 0
"""How many write operations the lock holder is inside (a transaction or a batch calls put_item)."""
_write_hook: Callable[[list[tuple[str, dict[str, Any], dict[str, Any] | None]]], None] | None = None


def on_write(hook: Callable[[list[tuple[str, dict[str, Any], dict[str, Any] | None]]], None] | None) -> None:
    """Call `hook` after each write moto applies, under the lock and before moto answers, with the
    post-images of the items it touched (local/journal.py makes them durable)."""
    global _write_hook
    _write_hook = hook


@contextlib.contextmanager
def writes_paused() -> Iterator[None]:
    with _lock:
        yield


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    wrapper.__riadex_serialized__ = True  # type: ignore[attr-defined]
    return wrapper


def _touched(name: str, backend: Any, arguments: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if name == "transact_write_items":
        found = [_key_of(backend, next(iter(e.values()))) for e in arguments["transact_items"] if e]
        return [key for key in found if key is not None]
    if name == "put_item":
        found_put = _key_of(backend, {"TableName": arguments["table_name"], "Item": arguments["item_attrs"]})
        return [found_put] if found_put else []
    return [(arguments["table_name"], arguments["key"])]


def _post_image(backend: Any, table_name: str, key: dict[str, Any]) -> dict[str, Any] | None:
    table = backend.tables.get(table_name)
    if table is None:
        return None
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    item = backend.get_item(table_name, {n: key[n] for n in names if n in key})
    return copy.deepcopy(item.to_json()["Attributes"]) if item is not None else None


def _journaled(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """The write, then (outermost write only, still under the lock) its post-images to the hook."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(backend: Any, *args: Any, **kwargs: Any) -> Any:
        global _depth
        with _lock:
            _depth += 1
            try:
                result = method(backend, *args, **kwargs)
            finally:
                _depth -= 1
            hook = _write_hook
            if _depth == 0 and hook is not None:
                arguments = signature.bind(backend, *args, **kwargs).arguments
                keys = _touched(name, backend, arguments)
                hook([(table, key, _post_image(backend, table, key)) for table, key in keys])
            return result

    wrapper.__riadex_serialized__ = True  # type: ignore[attr-defined]
    return wrapper


class _NoTableCopies:
    """Stands in for the `copy` module inside moto's DynamoDB models: a Table is not copied."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _key_of(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    if "Item" in op:
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        if not all(name in op["Item"] for name in names):
            return None
        return op["TableName"], {name: op["Item"][name] for name in names}
    return (op["TableName"], op["Key"]) if isinstance(op.get("Key"), dict) else None


def _with_item_rollback(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(backend: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        with _lock:
            saved: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
            for entry in transact_items:
                found = _key_of(backend, next(iter(entry.values()))) if entry else None
                if found is None:
                    continue
                table_name, key = found
                try:
                    current = backend.get_item(table_name, key)
                except Exception:  # noqa: S112 - a malformed key fails inside the transaction itself
                    continue
                saved.append(
                    (table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None)
                )
            try:
                return method(backend, transact_items, *args, **kwargs)
            except Exception:
                for table_name, key, attributes in reversed(saved):
                    if attributes is None:
                        backend.delete_item(table_name, key)
                    else:
                        backend.put_item(table_name, attributes)
                raise

    wrapper.__riadex_serialized__ = True  # type: ignore[attr-defined]
    return wrapper


def make_dynamodb_atomic() -> None:
    """Idempotent: wrap each DynamoDB backend operation once."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    for name in _OPERATIONS:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "__riadex_serialized__", False):
            continue
        wrapped = _with_item_rollback(method) if name == "transact_write_items" else _serialized(method)
        if name in _WRITES:
            wrapped = _journaled(name, wrapped)
        setattr(DynamoDBBackend, name, wrapped)
    setattr(models, "copy", _NoTableCopies(Table))  # noqa: B010 - replacing a module global


def make_stop_final() -> None:
    """Idempotent: a stopped execution stays stopped (ABORTED) whatever its in-flight state does next."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    if getattr(Environment.set_error, "__riadex_stop_final__", False):
        return
    set_error, set_timed_out = Environment.set_error, Environment.set_timed_out
    next_state: Any = Environment.__dict__["next_state_name"]

    def unless_stopped(method: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(method)
        def wrapper(env: Any, *args: Any, **kwargs: Any) -> None:
            with env._state_mutex:
                if isinstance(env._program_state, ProgramStopped):
                    env.program_state_event.set()
                    env.program_state_event.clear()
                    return
                method(env, *args, **kwargs)

        wrapper.__riadex_stop_final__ = True  # type: ignore[attr-defined]
        return wrapper

    def set_next_state(env: Any, name: str) -> None:
        # A Parallel branch (or a Map iteration) starting after the stop: it ends at once, stopped.
        if not isinstance(env._program_state, ProgramStopped):
            next_state.fset(env, name)

    set_stop = Environment.set_stop

    def stop_and_wake(env: Any, *args: Any, **kwargs: Any) -> None:
        set_stop(env, *args, **kwargs)
        # A waitForTaskToken task (AskUser) waits on its callback endpoint, which the stop did not wake:
        # the execution stayed RUNNING until the task's own timeout (a day).
        for endpoint in list(env.callback_pool_manager._pool.values()):
            endpoint.interrupt_all()

    setattr(Environment, "set_stop", stop_and_wake)  # noqa: B010
    setattr(Environment, "set_error", unless_stopped(set_error))  # noqa: B010
    setattr(Environment, "set_timed_out", unless_stopped(set_timed_out))  # noqa: B010
    setattr(Environment, "next_state_name", property(next_state.fget, set_next_state))  # noqa: B010


def make_moto_faithful() -> None:
    """Every fidelity fix above, once: what the local stack and the test suite start moto with."""
    make_dynamodb_atomic()
    make_stop_final()

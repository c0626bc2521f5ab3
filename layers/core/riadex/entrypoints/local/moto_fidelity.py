"""Make moto's DynamoDB as atomic as DynamoDB, so the local stack and the tests can rely on it, and
spare it two costs DynamoDB does not have.

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

A Query on a table's own key reads only its partition. moto's Table.query sorts every item of the table
(comparing moto's DynamoType wrappers) before it picks the partition's, so each read of the event log
cost time in proportion to the whole table: with 10,000 events in one session, reading a 20-event
session took 56 ms of CPU and the last events of the big one 138 ms; now 9 and 8 ms. Here the
partition's keys are sorted as plain values (and kept so between queries), the key condition, the
exclusive start key and the limit narrow them with a binary search, and moto's own query runs on just
those items (its results, paging and filters are unchanged; a query it is not sure of is left to moto
as it is).

An item read goes out as it is. moto serializes each attribute value of each item through the
service's shape model, trying every member of the AttributeValue shape under several spellings: that
was three quarters of the moto process's time in a replay of 10,000 events. An attribute value is
already DynamoDB's JSON (binary values base64-encoded here, as the serializer does), so it is written
directly: a page of 100 events went from 42 to 17 ms of CPU.

StopExecution is made final, as in Step Functions: once an execution is stopped it ends ABORTED. moto
5.2.5 marks the program stopped, but the state it was in may then fail on the stopped program (a
Parallel branch starting, a task whose frame was torn down) and moto's `set_error` overwrote the stop,
so a stopped execution could end FAILED; those late errors are now ignored once the stop is recorded.
A stop also wakes a waitForTaskToken task (a run waiting for the user), which moto left waiting until
the task's timeout. A stop that arrives before the execution's worker thread has begun (a cancel right
after the message, on a busy machine) answered 500 (moto's worker had no environment yet); it now
waits for the program to begin, then stops it.

A `lambda:invoke` task's `InvocationType` (`Event`: do not wait for the function) reaches Lambda, as in
Step Functions; moto 5.2.5 dropped the parameter and invoked synchronously.

Three things moto's server redid on every request or state are done once: listing its own modules on
disk to route a request, building jsonpath_ng's parser to evaluate a JSONPath, and building a boto3
client for each Lambda task. Under `make load` (25 sessions, profiled) they were 12% of the local
stack's CPU. Each is the same result memoized; nothing moto answers changes.

Finished executions can be forgotten (forget_executions): moto keeps every one in memory for the life
of the process, which grew a long-running local stack by about half a megabyte per run.

moto also keeps every model object it ever made (for its dashboard, and to close S3 objects' buffers on
a reset): each version of each DynamoDB item written, each state machine copied for an execution, each
S3 object. A deleted item, an overwritten one and a deleted file never left memory: about 490 items
per `make load` run, most of what a long-running local stack grew by. The objects are now tracked
weakly: the dashboard and the reset see those still alive, and the rest are freed.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import copy
import functools
import inspect
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
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


_BOUNDS: dict[str, tuple[bool, bool]] = {
    # comparison: (bounded below, bounded above) by its first value; BETWEEN by its two
    "=": (True, True),
    "EQ": (True, True),
    ">": (True, False),
    "GT": (True, False),
    ">=": (True, False),
    "GE": (True, False),
    "<": (False, True),
    "LT": (False, True),
    "<=": (False, True),
    "LE": (False, True),
    "BETWEEN": (True, True),
}
_EXCLUSIVE = (">", "GT", "<", "LT")


def _plain(value: Any) -> Decimal | str:
    """An N or S key value as something Python orders the way DynamoDB does."""
    # UTF-8 byte order (DynamoDB's for S) is code point order (Python's)
    return Decimal(value.value) if value.type == "N" else str(value.value)


@dataclass
class _KeyOrder:
    """A partition's range keys in order (plain values and moto's own), kept from query to query:
    a write appending past the last key extends it, any other change of the partition's keys drops it."""

    partition: dict[Any, Any]
    plain: list[Any]
    keys: list[Any]

    @classmethod
    def of(cls, table: Any, hash_key: Any) -> _KeyOrder:
        if hash_key not in table.items:  # (indexing the defaultdict would grow an empty partition)
            return cls({}, [], [])
        partition = table.items[hash_key]
        orders: dict[Any, _KeyOrder] = table.__dict__.setdefault("_riadex_key_orders", {})
        known = orders.get(hash_key)
        if known is not None and known.partition is partition and len(known.keys) == len(partition):
            return known
        pairs = [(_plain(key), key) for key in partition]
        pairs.sort(key=lambda pair: pair[0])
        order = cls(partition, [plain for plain, _ in pairs], [key for _, key in pairs])
        orders[hash_key] = order
        return order

    @staticmethod
    def written(table: Any, hash_key: Any, range_key: Any, deleted: bool) -> None:
        orders: dict[Any, _KeyOrder] = table.__dict__.get("_riadex_key_orders", {})
        known = orders.get(hash_key)
        if known is None or range_key is None:
            return
        plain = _plain(range_key)
        if not deleted and len(known.partition) == len(known.keys):
            return  # an item replaced: the same keys
        if (
            not deleted
            and len(known.partition) == len(known.keys) + 1
            and (not known.plain or plain > known.plain[-1])
        ):
            known.plain.append(plain)
            known.keys.append(range_key)
            return
        del orders[hash_key]

    def reachable(
        self, comparison: str | None, values: list[Any], limit: int | None, start: Any, forward: bool
    ) -> list[Any]:
        """The items a query can reach, in key order: the key condition, the exclusive start key and
        one more than the limit (so moto sees there is a next page)."""
        low, high = 0, len(self.keys)
        if comparison is not None:
            below, above = _BOUNDS[comparison]
            exclusive = comparison in _EXCLUSIVE
            if below:
                low = (bisect.bisect_right if exclusive else bisect.bisect_left)(self.plain, values[0])
            if above:
                high = (bisect.bisect_left if exclusive else bisect.bisect_right)(self.plain, values[-1])
        if start is not None:
            if forward:
                low = max(low, bisect.bisect_right(self.plain, start))
            else:
                high = min(high, bisect.bisect_left(self.plain, start))
        keys = self.keys[low : max(low, high)]
        if limit is not None:
            keys = keys[: limit + 1] if forward else keys[-(limit + 1) :]
        return [self.partition[key] for key in keys]


def _reachable(table: Any, arguments: dict[str, Any]) -> list[Any] | None:
    """What moto's query needs to look at, or None when that is not certain (moto looks at all)."""
    comparison, start_key = arguments["range_comparison"], arguments["exclusive_start_key"]
    bounds = list(arguments["range_objs"])
    if start_key:
        raw = start_key.get(table.range_key_attr)
        if not isinstance(raw, dict):
            return None
        bounds.append(_dynamo_type(raw))
    if (
        arguments.get("index_name")
        or arguments["hash_key"] is None
        or table.range_key_type not in ("N", "S")
        or arguments.get("filter_kwargs")
        or len(arguments.get("range_key_conditions") or []) > 1
        or (comparison is not None and comparison not in _BOUNDS)
        or any(bound.type != table.range_key_type for bound in bounds)
    ):
        return None
    order = _KeyOrder.of(table, arguments["hash_key"])
    plain = [_plain(bound) for bound in bounds]
    start = plain.pop() if start_key else None
    forward = arguments["scan_index_forward"] is not False
    return order.reachable(comparison, plain, arguments["limit"], start, forward)


def _dynamo_type(value: dict[str, Any]) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType(value)


def make_queries_read_their_partition() -> None:
    """Idempotent: a Query on a table's own key looks at its partition only (see the module's docs)."""
    from moto.dynamodb.models.table import Table

    query, put_item, delete_item = Table.query, Table.put_item, Table.delete_item
    if getattr(query, "__riadex_partitioned__", False):
        return
    signature = inspect.signature(query)

    @functools.wraps(query)
    def partitioned(table: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            reachable = _reachable(table, signature.bind(table, *args, **kwargs).arguments)
            if reachable is None:
                return query(table, *args, **kwargs)
            table.all_items = lambda: reachable  # what moto's query reads, for this call only
            try:
                return query(table, *args, **kwargs)
            finally:
                del table.all_items

    @functools.wraps(put_item)
    def put(table: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        with _lock:
            item = put_item(table, item_attrs, *args, **kwargs)
            _KeyOrder.written(table, item.hash_key, item.range_key, deleted=False)
            return item

    @functools.wraps(delete_item)
    def delete(table: Any, hash_key: Any, range_key: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            item = delete_item(table, hash_key, range_key, *args, **kwargs)
            _KeyOrder.written(table, hash_key, range_key, deleted=True)
            return item

    partitioned.__riadex_partitioned__ = True  # type: ignore[attr-defined]
    setattr(Table, "query", partitioned)  # noqa: B010
    setattr(Table, "put_item", put)  # noqa: B010
    setattr(Table, "delete_item", delete)  # noqa: B010


_ATTRIBUTE_VALUE_MEMBERS = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def _attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """An item's attribute value as DynamoDB's JSON has it (what moto's serializer makes of it)."""
    out: dict[str, Any] = {}
    for kind, inner in value.items():
        if inner is None or kind not in _ATTRIBUTE_VALUE_MEMBERS:
            continue
        if kind == "B":
            inner = _base64(inner)
        elif kind == "BS":
            inner = [_base64(member) for member in inner]
        elif kind == "M":
            inner = {name: _attribute_value(member) for name, member in inner.items()}
        elif kind == "L":
            inner = [_attribute_value(member) for member in inner]
        elif kind in ("S", "N"):
            inner = str(inner)
        elif kind in ("SS", "NS"):
            inner = [str(member) for member in inner]
        out[kind] = inner
    return out


def _base64(value: str | bytes) -> str:
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


def make_items_serialize_directly() -> None:
    """Idempotent: an attribute value goes out as it is (see the module's docs)."""
    from moto.core.serialize import JSONSerializer

    structure = JSONSerializer._serialize_type_structure
    if getattr(structure, "__riadex_direct__", False):
        return

    @functools.wraps(structure)
    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            shape.name == "AttributeValue"
            and set(shape.members) == _ATTRIBUTE_VALUE_MEMBERS
            and key
            and isinstance(value, dict)
        ):
            self._default_serialize(serialized, _attribute_value(value), shape, key)
            return
        structure(self, serialized, value, shape, key)

    serialize.__riadex_direct__ = True  # type: ignore[attr-defined]
    setattr(JSONSerializer, "_serialize_type_structure", serialize)  # noqa: B010


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


def make_dynamodb_fast() -> None:
    """Idempotent: moto's two costs DynamoDB does not have, removed (see the module's docs)."""
    make_queries_read_their_partition()
    make_items_serialize_directly()


def make_server_lean() -> None:
    """Idempotent: moto's per-request module listing, per-evaluation JSONPath parser and per-task boto3
    client, each made once (see the module's docs)."""
    import moto.backends as backends
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import json_path

    if getattr(backends.list_of_moto_modules, "__riadex_lean__", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def listed() -> tuple[str, ...]:
        return modules

    listed.__riadex_lean__ = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = listed
    # A parsed JSONPath is only read when evaluated (find), so one per path serves every execution.
    for module in (json_path, result_path):
        setattr(module, "parse", functools.lru_cache(maxsize=4096)(getattr(module, "parse")))  # noqa: B009, B010
    make_client = getattr(lambda_eval_utils, "boto_client_for")  # noqa: B009
    clients: dict[tuple[str, str, bool, str], Any] = {}

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own client ignores the credentials (fixed "ak"/"sk"); boto3 clients are thread-safe.
        # Its endpoint is the moto server's port, read each time (a test session starts several).
        key = (region, service, botocore_stubber.enabled, moto_server_port())
        if key not in clients:
            clients[key] = make_client(region=region, service=service, state_credentials=state_credentials)
        return clients[key]

    setattr(lambda_eval_utils, "boto_client_for", client_for)  # noqa: B010


def make_async_invoke_possible() -> None:
    """Idempotent: a `lambda:invoke` task passes `InvocationType` on, as Step Functions does (moto 5.2.5
    drops it, so an `Event` invoke, the sandbox's head start, ran synchronously and the run waited)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_lambda as service,
    )

    service._SUPPORTED_API_PARAM_BINDINGS["invoke"].add("InvocationType")


STOP_WAITS_FOR_START_SECONDS = 30.0


def make_stop_before_start_work() -> None:
    """Idempotent: StopExecution of an execution whose worker thread has not begun evaluating yet
    waits for it to begin (Step Functions stops an execution at any moment after StartExecution)."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    stop: Any = ExecutionWorker.stop
    if getattr(stop, "__riadex_stop_waits__", False):
        return

    def stop_once_begun(worker: Any, *args: Any, **kwargs: Any) -> None:
        deadline = time.monotonic() + STOP_WAITS_FOR_START_SECONDS
        # The program has begun once its first state is set (before that, moto ignores a stop).
        while (worker.env is None or worker.env._program_state is None) and time.monotonic() < deadline:
            time.sleep(0.005)
        stop(worker, *args, **kwargs)

    stop_once_begun.__riadex_stop_waits__ = True  # type: ignore[attr-defined]
    setattr(ExecutionWorker, "stop", stop_once_begun)  # noqa: B010


class _WeakInstances:
    """A model class's `instances_tracked`, holding its instances weakly (moto appends to it and iterates
    it; an object that cannot be weakly referenced is not tracked)."""

    def __init__(self, instances: Any = ()) -> None:
        self._refs: dict[int, weakref.ref[Any]] = {}
        for instance in instances:
            self.append(instance)

    def append(self, instance: Any) -> None:
        key = id(instance)

        def forget(ref: weakref.ref[Any]) -> None:
            if self._refs.get(key) is ref:
                del self._refs[key]

        try:
            self._refs[key] = weakref.ref(instance, forget)
        except TypeError:
            return

    def __iter__(self) -> Iterator[Any]:
        live = (ref() for ref in list(self._refs.values()))
        return iter([instance for instance in live if instance is not None])


def make_models_weakly_tracked() -> None:
    """Idempotent: moto's per-class lists of every model object, existing and future, hold them weakly
    (see the module's docs)."""
    import moto.core.model_instances as model_instances
    from moto.core.base_backend import InstanceTrackerMeta
    from moto.moto_api._internal import models as moto_api_models

    new: Any = InstanceTrackerMeta.__new__
    if getattr(new, "__riadex_weak__", False):
        return

    def track_weakly() -> None:
        for models in model_instances.model_data.values():
            for model in models.values():
                tracked = getattr(model, "instances_tracked", None)
                if not isinstance(tracked, _WeakInstances):
                    model.instances_tracked = _WeakInstances(tracked or ())  # type: ignore[attr-defined]

    def weakly_tracked_class(meta: Any, name: str, bases: Any, dct: dict[str, Any]) -> type:
        cls: type = new(meta, name, bases, dct)
        if "instances_tracked" in cls.__dict__:
            setattr(cls, "instances_tracked", _WeakInstances())  # noqa: B010
        return cls

    reset: Callable[[], None] = model_instances.reset_model_data

    def reset_weakly() -> None:
        reset()
        track_weakly()

    weakly_tracked_class.__riadex_weak__ = True  # type: ignore[attr-defined]
    setattr(InstanceTrackerMeta, "__new__", staticmethod(weakly_tracked_class))  # noqa: B010
    model_instances.reset_model_data = reset_weakly
    moto_api_models.reset_model_data = reset_weakly  # type: ignore[attr-defined]
    track_weakly()


_executions_lock = threading.Lock()
"""Held by StartExecution while it appends to a state machine's list, and by forget_executions."""


def make_executions_forgettable() -> None:
    """Idempotent: StartExecution appends an execution under `_executions_lock`, so forget_executions
    can replace the list without losing one (see forget_executions)."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start: Any = StepFunctionsParserBackend.start_execution
    if getattr(start, "__riadex_forgettable__", False):
        return

    @functools.wraps(start)
    def start_locked(backend: Any, *args: Any, **kwargs: Any) -> Any:
        with _executions_lock:
            return start(backend, *args, **kwargs)

    start_locked.__riadex_forgettable__ = True  # type: ignore[attr-defined]
    setattr(StepFunctionsParserBackend, "start_execution", start_locked)  # noqa: B010


def forget_executions(state_machine: Any, forget: Callable[[list[Any]], list[Any]]) -> list[Any]:
    """Drop from moto the executions `forget` picks from a state machine's list (in start order);
    returns them.

    moto keeps every execution for the life of the process, each with its history and its own copy of
    the state machine, so a long-running local stack grew with every run (Step Functions keeps them 90
    days, on its disks). moto's lookups (DescribeExecution, StopExecution, ListExecutions) iterate that
    list on other threads without a lock, and removing from a list under an iteration can make it skip
    an element. So the list is never changed in place: a new one replaces it, and a lookup already
    iterating the old one finishes on it unchanged. StartExecution appends under the same lock
    (make_executions_forgettable), so no execution started meanwhile is lost."""
    with _executions_lock:
        executions: list[Any] = state_machine.executions
        dropped = forget(list(executions))
        if dropped:
            gone = {id(execution) for execution in dropped}
            state_machine.executions = [e for e in executions if id(e) not in gone]
        return dropped


def make_moto_faithful() -> None:
    """Every fix above, once: what the local stack and the test suite start moto with."""
    make_dynamodb_atomic()
    make_dynamodb_fast()
    make_stop_final()
    make_async_invoke_possible()
    make_stop_before_start_work()
    make_server_lean()
    make_executions_forgettable()
    make_models_weakly_tracked()

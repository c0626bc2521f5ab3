"""moto made faithful (entrypoints/local/moto_fidelity.py): a cancelled DynamoDB transaction leaves no
trace, even though the whole-table backup moto would take is skipped; a StopExecution that arrives
before the execution has begun stops it."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from riadex.entrypoints.local.agent_workflow import ExecutionWatcher, configure_moto
from riadex.entrypoints.local.moto_fidelity import forget_executions

TABLE = "fidelity"


@pytest.fixture
def dynamodb(moto_endpoint: str) -> Any:
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield client
    client.delete_table(TableName=TABLE)


def _key(pk: str, sk: int) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"N": str(sk)}}


def _items(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = client.scan(TableName=TABLE)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], int(item["sk"]["N"])))


def test_cancelled_transaction_leaves_every_item_as_it_was(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**_key("b", 1), "n": {"N": "1"}})
    dynamodb.put_item(TableName=TABLE, Item={**_key("d", 1), "n": {"N": "7"}})
    before = _items(dynamodb)

    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**_key("a", 1), "n": {"N": "0"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("b", 1),
                        "UpdateExpression": "SET n = n + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": _key("d", 1)}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("c", 1),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(dynamodb) == before


def test_successful_transaction_applies_every_write(dynamodb: Any) -> None:
    dynamodb.put_item(TableName=TABLE, Item={**_key("b", 1), "n": {"N": "1"}})
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": TABLE,
                    "Item": {**_key("a", 1), "n": {"N": "0"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("b", 1),
                    "UpdateExpression": "SET n = n + :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
    )
    assert [(i["pk"]["S"], i["n"]["N"]) for i in _items(dynamodb)] == [("a", "0"), ("b", "2")]


CONDITIONS = [
    (None, []),
    ("sk = :a", [7]),
    ("sk > :a", [7]),
    ("sk >= :a", [7]),
    ("sk < :a", [7]),
    ("sk <= :a", [7]),
    ("sk BETWEEN :a AND :b", [3, 11]),
    ("sk > :a", [-5]),
    ("sk > :a", [1000]),
]


def _expected(sks: list[int], condition: str | None, values: list[int], forward: bool) -> list[int]:
    tests = {
        None: lambda sk: True,
        "sk = :a": lambda sk: sk == values[0],
        "sk > :a": lambda sk: sk > values[0],
        "sk >= :a": lambda sk: sk >= values[0],
        "sk < :a": lambda sk: sk < values[0],
        "sk <= :a": lambda sk: sk <= values[0],
        "sk BETWEEN :a AND :b": lambda sk: values[0] <= sk <= values[-1],
    }
    return sorted((sk for sk in sks if tests[condition](sk)), reverse=not forward)


@pytest.mark.parametrize("forward", [True, False])
@pytest.mark.parametrize("limit", [None, 1, 4, 100])
def test_queries_on_the_table_key_answer_as_dynamodb_does(
    dynamodb: Any, forward: bool, limit: int | None
) -> None:
    """A Query reads only its partition (moto_fidelity narrows it): every key condition, direction,
    limit and page gives the items a DynamoDB Query gives, whatever the other partitions hold."""
    sks = [12, 3, 7, 1, 20, 11, 5, 9, 2, 15, 0, -1]  # written out of order
    for sk in sks:
        dynamodb.put_item(TableName=TABLE, Item={**_key("p", sk), "n": {"S": f"v{sk}"}})
    for sk in range(50):
        dynamodb.put_item(TableName=TABLE, Item=_key("other", sk))
    for condition, values in CONDITIONS:
        expression = "pk = :p" + (f" AND {condition}" if condition else "")
        names = dict(zip((":a", ":b"), values, strict=False))
        arguments: dict[str, Any] = {
            "TableName": TABLE,
            "KeyConditionExpression": expression,
            "ExpressionAttributeValues": {":p": {"S": "p"}, **{k: {"N": str(v)} for k, v in names.items()}},
            "ScanIndexForward": forward,
            **({"Limit": limit} if limit else {}),
        }
        got: list[int] = []
        while True:
            page = dynamodb.query(**arguments)
            assert limit is None or len(page["Items"]) <= limit
            got += [int(item["sk"]["N"]) for item in page["Items"]]
            assert all(item["n"]["S"] == f"v{item['sk']['N']}" for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        arguments.pop("ExclusiveStartKey", None)
        assert got == _expected(sks, condition, values, forward), (condition, values)


def test_a_query_filters_and_projects_after_the_limit(dynamodb: Any) -> None:
    for sk in range(10):
        dynamodb.put_item(TableName=TABLE, Item={**_key("p", sk), "n": {"N": str(sk % 2)}})
    page = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p AND sk >= :a",
        FilterExpression="n = :one",
        ProjectionExpression="sk",
        ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"N": "2"}, ":one": {"N": "1"}},
        Limit=4,
    )
    # Limit counts the items read (2, 3, 4, 5), the filter keeps the odd ones, the projection only sk.
    assert page["Items"] == [{"sk": {"N": "3"}}, {"sk": {"N": "5"}}]
    assert page["ScannedCount"] == 4
    assert page["LastEvaluatedKey"] == _key("p", 5)


def test_a_query_sees_every_write_since_the_last(dynamodb: Any) -> None:
    """The partition's key order kept between queries follows appends, inserts, deletes and restores."""

    def keys() -> list[int]:
        page = dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p AND sk > :a",
            ExpressionAttributeValues={":p": {"S": "p"}, ":a": {"N": "0"}},
        )
        return [int(item["sk"]["N"]) for item in page["Items"]]

    for sk in (2, 4):
        dynamodb.put_item(TableName=TABLE, Item=_key("p", sk))
    assert keys() == [2, 4]
    dynamodb.put_item(TableName=TABLE, Item=_key("p", 6))  # past the end
    dynamodb.put_item(TableName=TABLE, Item=_key("p", 3))  # in between
    dynamodb.put_item(TableName=TABLE, Item={**_key("p", 4), "n": {"N": "1"}})  # replaced
    assert keys() == [2, 3, 4, 6]
    dynamodb.delete_item(TableName=TABLE, Key=_key("p", 2))
    dynamodb.put_item(TableName=TABLE, Item=_key("p", 1))  # as many keys as before, not the same
    assert keys() == [1, 3, 4, 6]
    with pytest.raises(ClientError):  # a cancelled transaction's write is rolled back
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": _key("p", 9)}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("q", 1),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert keys() == [1, 3, 4, 6]


EVERY_TYPE = {
    "s": {"S": "text é"},
    "empty": {"S": ""},
    "n": {"N": "-12.50"},
    "b": {"B": b"\x00\xffbytes"},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "m": {"M": {"in": {"L": [{"N": "1"}, {"M": {}}, {"NULL": True}, {"B": b"\x03"}]}, "t": {"BOOL": True}}},
    "l": {"L": []},
    "null": {"NULL": True},
    "f": {"BOOL": False},
}


def test_items_are_written_out_as_moto_serializes_them(dynamodb: Any) -> None:
    """moto_fidelity writes attribute values directly: every type reads back the same as through
    moto's own serializer, in GetItem, Query, Scan, BatchGetItem and TransactGetItems."""
    from moto.core.serialize import JSONSerializer

    dynamodb.put_item(TableName=TABLE, Item={**_key("p", 1), **EVERY_TYPE})
    dynamodb.put_item(TableName=TABLE, Item={**_key("p", 2), "n": {"N": "3"}})

    def reads() -> list[Any]:
        return [
            dynamodb.get_item(TableName=TABLE, Key=_key("p", 1))["Item"],
            dynamodb.query(
                TableName=TABLE,
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "p"}},
                Limit=1,
            ),
            dynamodb.scan(TableName=TABLE)["Items"],
            dynamodb.batch_get_item(RequestItems={TABLE: {"Keys": [_key("p", 1), _key("p", 2)]}}),
            dynamodb.transact_get_items(TransactItems=[{"Get": {"TableName": TABLE, "Key": _key("p", 1)}}]),
        ]

    direct = reads()
    assert direct[0] == {**_key("p", 1), **EVERY_TYPE}
    patched = JSONSerializer._serialize_type_structure
    assert getattr(patched, "__riadex_direct__", False)
    try:
        JSONSerializer._serialize_type_structure = patched.__wrapped__  # type: ignore[attr-defined]
        through_moto = reads()
    finally:
        JSONSerializer._serialize_type_structure = patched  # type: ignore[method-assign]
    for response in (direct, through_moto):
        for read in response[1], response[3], response[4]:
            read.pop("ResponseMetadata")
    assert direct == through_moto


def test_a_stop_before_the_execution_has_begun_aborts_it(moto_endpoint: str, monkeypatch: Any) -> None:
    """StopExecution right after StartExecution, before moto's worker thread has begun evaluating (a
    cancel on a busy machine): Step Functions stops it; moto answered 500 (no environment yet)."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    configure_moto(moto_endpoint)  # executions really run (the ASL interpreter), as on the local stack
    sfn = boto3.client("stepfunctions", endpoint_url=moto_endpoint, region_name="us-east-1")
    definition = '{"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 30, "End": true}}}'
    arn = sfn.create_state_machine(
        name="fidelity-stop", definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    begin = threading.Event()
    logic = ExecutionWorker._execution_logic

    def held(worker: Any) -> None:
        begin.wait(30)
        logic(worker)

    monkeypatch.setattr(ExecutionWorker, "_execution_logic", held)
    execution = sfn.start_execution(stateMachineArn=arn, name="early")["executionArn"]
    with ThreadPoolExecutor(1) as pool:
        stopping = pool.submit(sfn.stop_execution, executionArn=execution, cause="cancelled early")
        threading.Timer(5, begin.set).start()  # begins while the stop (and its SDK retries) is in flight
        stopping.result(60)
    deadline = time.monotonic() + 30
    while (status := sfn.describe_execution(executionArn=execution)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "the stopped execution kept running"
        time.sleep(0.05)
    assert status == "ABORTED"


def test_the_lean_server_memoizes_only_what_cannot_change(moto_endpoint: str, monkeypatch: Any) -> None:
    """make_server_lean (run with moto's fixes by the moto_endpoint fixture): one Lambda client per moto
    endpoint, never one for another server's port; a JSONPath parsed once and evaluated alike."""
    from moto import backends
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import json_path

    client_for = getattr(lambda_eval_utils, "boto_client_for")  # noqa: B009
    monkeypatch.setenv("MOTO_PORT", "5101")
    first = client_for(region="us-east-1", service="lambda")
    assert client_for(region="us-east-1", service="lambda") is first
    assert first.meta.endpoint_url == "http://localhost:5101"
    monkeypatch.setenv("MOTO_PORT", "5102")
    other = client_for(region="us-east-1", service="lambda")
    assert other is not first
    assert other.meta.endpoint_url == "http://localhost:5102"

    assert json_path.extract_json("$.a.b", {"a": {"b": 1}}) == 1
    assert json_path.extract_json("$.a.b", {"a": {"b": 2}}) == 2  # the same parsed path, new data
    assert "dynamodb" in backends.list_of_moto_modules()
    assert "__pycache__" not in backends.list_of_moto_modules()


def _forget_machine(sfn: Any, name: str) -> str:
    definition = json.dumps(
        {
            "StartAt": "Which",
            "States": {
                "Which": {
                    "Type": "Choice",
                    "Choices": [
                        {"Variable": "$.hold", "BooleanEquals": True, "Next": "Hold"},
                        {"Variable": "$.fail", "BooleanEquals": True, "Next": "Fail"},
                    ],
                    "Default": "Done",
                },
                "Hold": {"Type": "Wait", "Seconds": 60, "End": True},
                "Fail": {"Type": "Fail", "Error": "Broken"},
                "Done": {"Type": "Pass", "End": True},
            },
        }
    )
    arn: str = sfn.create_state_machine(
        name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/sfn"
    )["stateMachineArn"]
    return arn


def _start(sfn: Any, arn: str, name: str, **flags: bool) -> str:
    body = {"hold": False, "fail": False, **flags}
    started = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(body))
    execution: str = started["executionArn"]
    return execution


def _until_finished(sfn: Any, executions: list[str]) -> None:
    deadline = time.monotonic() + 30
    while any(sfn.describe_execution(executionArn=e)["status"] == "RUNNING" for e in executions):
        assert time.monotonic() < deadline, "the executions did not finish"
        time.sleep(0.05)


def test_the_watcher_forgets_the_oldest_finished_executions_never_a_running_or_unfinalized_one(
    moto_endpoint: str,
) -> None:
    """moto keeps every execution in memory; the local stack's watcher keeps the newest `keep` finished
    ones, drops a failed one only after finalizing it, and never touches one still running."""
    configure_moto(moto_endpoint)
    sfn = boto3.client("stepfunctions", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = _forget_machine(sfn, "fidelity-forget")
    running = _start(sfn, arn, "running", hold=True)
    done = [_start(sfn, arn, f"done-{i}") for i in range(4)]
    failed = _start(sfn, arn, "failed", fail=True)
    _until_finished(sfn, [*done, failed])
    finalized: list[str] = []
    watcher = ExecutionWatcher(
        "us-east-1", arn, lambda event, context: finalized.append(event["detail"]["executionArn"]), keep=2
    )

    def listed() -> set[str]:
        return {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}

    assert watcher.forget_finished() == 2  # the two oldest succeeded; the failed one is not finalized yet
    assert listed() == {running, done[2], done[3], failed}
    assert watcher.poll_once() == 1
    assert finalized == [failed]
    watcher.keep = 0
    assert watcher.forget_finished() == 3
    assert listed() == {running}
    assert sfn.describe_execution(executionArn=running)["status"] == "RUNNING"
    sfn.stop_execution(executionArn=running)


def test_forgetting_never_changes_a_list_a_lookup_is_iterating_nor_loses_a_start(moto_endpoint: str) -> None:
    """moto looks an execution up by iterating its state machine's list, unlocked, on other threads.
    Removing from that list in place made such a lookup skip an execution (a StopExecution that never
    reached its run); the list is replaced instead. And a StartExecution racing a forget is kept."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    configure_moto(moto_endpoint)
    sfn = boto3.client("stepfunctions", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = _forget_machine(sfn, "fidelity-forget-race")
    done = [_start(sfn, arn, f"done-{i}") for i in range(3)]
    running = _start(sfn, arn, "running", hold=True)
    _until_finished(sfn, done)
    machine = stepfunctions_parser_backends["123456789012"]["us-east-1"].describe_state_machine(arn)

    lookup = iter(machine.executions)  # a lookup that has looked at the first execution
    assert next(lookup).execution_arn == done[0]
    dropped = forget_executions(machine, lambda executions: executions[:1])
    assert [e.execution_arn for e in dropped] == [done[0]]
    assert [e.execution_arn for e in lookup] == [done[1], done[2], running]  # nothing skipped

    started: list[str] = []

    def start_many() -> None:
        started.extend(_start(sfn, arn, f"raced-{i}") for i in range(40))

    def finished(executions: list[Any]) -> list[Any]:
        return [e for e in executions if getattr(e.exec_status, "value", None) == "SUCCEEDED"]

    forgotten: set[str] = set()
    starter = threading.Thread(target=start_many)
    starter.start()
    while starter.is_alive():
        forgotten.update(e.execution_arn for e in forget_executions(machine, finished))
        time.sleep(0.001)
    starter.join()
    kept = {e.execution_arn for e in machine.executions}
    assert len(started) == 40
    assert all(e in kept or e in forgotten for e in started), "a start racing a forget was lost"
    sfn.stop_execution(executionArn=running)


def test_moto_keeps_only_the_model_objects_still_in_use(dynamodb: Any, moto_endpoint: str) -> None:
    """moto tracked every model object it made, for good: each overwritten or deleted DynamoDB item
    stayed in memory. They are tracked weakly now: an item replaced or deleted is freed, the one stored
    is still tracked, moto's dashboard still lists what is alive, and a reset of moto's model data
    keeps it so."""
    import gc

    from moto.core import model_instances
    from moto.dynamodb.models.dynamo_type import Item

    def tracked(pk: str) -> list[dict[str, Any]]:
        gc.collect()
        found = [item.to_json()["Attributes"] for item in Item.instances_tracked]  # type: ignore[attr-defined]
        return [attributes for attributes in found if attributes.get("pk") == {"S": pk}]

    for version in range(5):
        dynamodb.put_item(TableName=TABLE, Item={**_key("tracked", 1), "v": {"N": str(version)}})
    dynamodb.put_item(TableName=TABLE, Item=_key("deleted", 1))
    dynamodb.delete_item(TableName=TABLE, Key=_key("deleted", 1))

    assert [attributes["v"] for attributes in tracked("tracked")] == [{"N": "4"}]
    assert tracked("deleted") == []
    dashboard = httpx.get(f"{moto_endpoint}/moto-api/data.json", timeout=30).json()
    assert TABLE in [table.get("name") for table in dashboard["dynamodb"]["Table"]]
    assert dashboard["dynamodb"]["Item"]  # (an item's attributes are not JSON to the dashboard)
    model_instances.reset_model_data()
    dynamodb.put_item(TableName=TABLE, Item={**_key("tracked", 1), "v": {"N": "5"}})
    dynamodb.put_item(TableName=TABLE, Item={**_key("tracked", 1), "v": {"N": "6"}})
    assert [attributes["v"] for attributes in tracked("tracked")] == [{"N": "6"}]

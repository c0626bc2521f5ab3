"""moto's DynamoDB, made as atomic as DynamoDB (entrypoints/local/moto_fidelity.py): a cancelled
transaction leaves no trace, even though the whole-table backup moto would take is skipped."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

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

"""The warm pool's store on moto's DynamoDB (and SSM for the tokens, as in AWS): a pool never holds
more than its size however many refills race, a member is taken by one caller only, and a token kept
in SSM is out of the table and deleted with its member."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import boto3
import pytest

from riadex.adapters.dynamodb import tables
from riadex.adapters.dynamodb.sandbox_pool import DynamoSandboxPool
from riadex.adapters.dynamodb.sandbox_records import SsmSecrets
from riadex.bootstrap import bind_tables
from riadex.config import Settings
from riadex.domain import ids


@pytest.fixture
def pool(settings: Settings) -> DynamoSandboxPool:
    bind_tables(settings)
    tables.create_all()
    return DynamoSandboxPool(f"arn:aws:ecs:us-east-1:123456789012:task-definition/{ids.new_id('sbx')}:1")


def race(count: int, work: object) -> list[object]:
    results: list[object] = []
    go = threading.Barrier(count)

    def one() -> None:
        go.wait()
        results.append(work())  # type: ignore[operator]

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_racing_reservations_never_pass_the_size(pool: DynamoSandboxPool) -> None:
    results = race(12, lambda: pool.reserve(ids.new_id("pool"), "t" * 32, datetime.now(UTC), 4))
    assert sum(r is not None for r in results) == 4
    assert len(pool.entries()) == 4
    assert pool.reserve(ids.new_id("pool"), "t" * 32, datetime.now(UTC), 4) is None


def test_a_member_is_taken_by_one_caller_only(pool: DynamoSandboxPool) -> None:
    reserved = pool.reserve(ids.new_id("pool"), "a-token-of-enough-length", datetime.now(UTC), 2)
    assert reserved is not None
    assert pool.started(reserved.pool_id, "arn:task/1")
    results = race(8, lambda: pool.take(reserved.pool_id))
    assert results.count(True) == 1
    assert pool.entries() == []
    assert not pool.started(reserved.pool_id, "arn:task/2")  # gone: nothing to record on


def test_tokens_in_ssm_stay_out_of_the_table(settings: Settings) -> None:
    bind_tables(settings)
    tables.create_all()
    ssm = boto3.client("ssm", region_name="us-east-1")
    prefix = f"/riadex/test-{ids.new_id('sbx')[-8:]}/sandboxes"
    pool = DynamoSandboxPool("riadex-sandbox:7", SsmSecrets(ssm, prefix))
    token = "pool-token-" + "x" * 32
    reserved = pool.reserve(ids.new_id("pool"), token, datetime.now(UTC), 1)
    assert reserved is not None
    (member,) = pool.entries()
    assert member.token is None
    assert member.token_ref == f"{prefix}/{reserved.pool_id}"
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=settings.sessions_table, Key={"session_id": {"S": "pool#riadex-sandbox:7"}}
    )["Item"]
    assert token not in str(item)
    assert DynamoSandboxPool("riadex-sandbox:7", SsmSecrets(ssm, prefix)).token(member) == token
    assert pool.take(member.pool_id)
    pool.forget(member)
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=str(member.token_ref), WithDecryption=True)

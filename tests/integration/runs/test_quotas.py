"""Per-user quotas on real runs (moto, the real state machine): 429 in the envelope with Retry-After,
nothing written for a refused run, slots freed when runs end, and no race past a limit."""

from __future__ import annotations

import threading
import uuid

import pytest
from fastapi.testclient import TestClient

from riadex.adapters.dynamodb.quotas import DynamoQuotaStore
from riadex.application.quotas import QuotaLimits, Quotas
from riadex.bootstrap import Container
from riadex.config import Settings
from riadex.domain.errors import QuotaExceeded
from riadex.entrypoints.local.agent_workflow import state_machine_arn
from riadex.entrypoints.local.lambda_invoke import LambdaInvokeServer
from tests.conftest import make_settings
from tests.integration.runs.conftest import FAST_STREAMS
from tests.integration.runs.helpers import new_session, new_user, send, wait_for_status

pytestmark = pytest.mark.usefixtures("lambda_server")


@pytest.fixture(scope="module")
def settings(moto_endpoint: str, lambda_server: LambdaInvokeServer) -> Settings:
    name = f"sm{uuid.uuid4().hex[:10]}"
    return make_settings(
        moto_endpoint,
        state_machine_arn=state_machine_arn("us-east-1", name),
        objects_bucket=f"{name}-objects",
        quota_concurrent_runs=2,
        quota_runs_per_day=2,
        **FAST_STREAMS,
    )


def _refused(response: object, quota: str) -> dict[str, object]:
    assert getattr(response, "status_code", None) == 429, getattr(response, "text", "")
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"code", "msg", "data"}
    assert body["code"] == 429
    assert body["data"]["quota"] == quota
    retry_after = int(response.headers["retry-after"])  # type: ignore[attr-defined]
    assert retry_after == body["data"]["retry_after"]
    assert 0 < retry_after <= 24 * 3600
    data: dict[str, object] = body["data"]
    return data


def test_concurrent_runs_and_runs_per_day(client: TestClient, container: Container) -> None:
    auth = new_user(client, "quota")
    sids = [new_session(client, auth) for _ in range(3)]
    first = send(client, auth, sids[0], "!ask one?", **{"Idempotency-Key": "k1"}).json()["data"]["run_id"]
    # An idempotent retry of an admitted run is not a new run: no slot, no daily use.
    again = send(client, auth, sids[0], "!ask one?", **{"Idempotency-Key": "k1"})
    assert again.json()["data"]["run_id"] == first
    assert send(client, auth, sids[1], "!ask two?").status_code == 202  # the 2nd run today
    wait_for_status(container, first, "waiting")

    refused = send(client, auth, sids[2], "hello")
    assert _refused(refused, "concurrent_runs")["limit"] == 2
    assert container.events.read(sids[2], 0, None) == []  # nothing written for it
    assert container.sessions.get(sids[2]).active_run_id is None  # type: ignore[union-attr]

    # The answer to a waiting run is not a new run either; once that run ends, its slot is free,
    # but the day's runs are used up.
    assert send(client, auth, sids[0], "yes").status_code == 202
    wait_for_status(container, first, "completed")
    _refused(send(client, auth, sids[2], "hello"), "runs_per_day")

    other = new_user(client, "someone-else")  # quotas are per user
    assert send(client, other, new_session(client, other), "hi").status_code == 202


def test_no_race_past_a_limit(container: Container) -> None:
    store = DynamoQuotaStore()
    key = f"usr_race{uuid.uuid4().hex}#runs"
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def take(i: int) -> None:
        barrier.wait()
        results.append(store.hold(key, f"run_{i}", 3, 1000.0))

    threads = [threading.Thread(target=take, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True] * 3
    assert len(store.holders(key)) == 3

    day = f"usr_race{uuid.uuid4().hex}#day"
    counted: list[bool] = []
    workers = [threading.Thread(target=lambda: counted.append(store.take(day, 2, 0))) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counted.count(True) == 2


def test_live_sandboxes_are_counted_per_session(client: TestClient, container: Container) -> None:
    auth = new_user(client, "sandboxes")
    sids = [new_session(client, auth) for _ in range(3)]
    owner = container.sessions.get(sids[0]).owner_id  # type: ignore[union-attr]
    now = [10_000.0]
    quotas = Quotas(
        DynamoQuotaStore(), QuotaLimits(live_sandboxes=2), container.runs, container.sessions, lambda: now[0]
    )
    quotas.admit_run(owner, sids[0], "run_a")
    quotas.admit_run(owner, sids[1], "run_b")
    quotas.admit_run(owner, sids[1], "run_c")  # the same session's sandbox: no new slot
    with pytest.raises(QuotaExceeded) as refused:
        quotas.admit_run(owner, sids[2], "run_d")
    assert refused.value.details["quota"] == "live_sandboxes"
    now[0] += 60  # past the grace: those sessions have neither a live sandbox nor an open run
    quotas.admit_run(owner, sids[2], "run_d")

"""DynamoDB faults injected at the client (botocore's `before-send`, so the SDK's own retry handling
sees exactly what the service would send): throttling and transient 500s on appends, reads and
transactions throughout a run, while a second writer races the run for the same session's seqs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.awsrequest import AWSResponse

from riadex.adapters.dynamodb import tables
from tests.integration.agent.conftest import AgentFactory
from tests.integration.agent.events import new_session, new_user, send
from tests.integration.faults.common import ended, takes_the_next_message

ERRORS = (
    (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "injected throttle"),
    (400, "com.amazonaws.dynamodb.v20120810#ThrottlingException", "injected throttle"),
    (500, "com.amazonaws.dynamodb.v20120810#InternalServerError", "injected 500"),
)


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.payload


@contextmanager
def every_fifth_call_fails() -> Iterator[dict[str, int]]:
    """Every fifth DynamoDB request of the models' clients is answered with a throttle or a 500
    (cycling), before it reaches the server; pynamodb's botocore retries (standard mode) take it up."""
    counts = {"calls": 0, "injected": 0}
    lock = threading.Lock()

    def inject(request: Any, **_: Any) -> AWSResponse | None:
        with lock:
            counts["calls"] += 1
            if counts["calls"] % 5:
                return None
            status, kind, message = ERRORS[counts["injected"] % len(ERRORS)]
            counts["injected"] += 1
        body = json.dumps({"__type": kind, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
        return AWSResponse(request.url, status, headers, _Body(body))  # type: ignore[arg-type]

    clients = [model._get_connection().connection.client for model in tables.ALL_TABLES]
    for client in clients:
        client.meta.events.register_first("before-send.dynamodb.*", inject, unique_id="riadex-fault")
    try:
        yield counts
    finally:
        for client in clients:
            client.meta.events.unregister("before-send.dynamodb.*", unique_id="riadex-fault")


def test_throttling_and_500s_everywhere_and_a_racing_writer_lose_nothing(agent_stack: AgentFactory) -> None:
    container, client = agent_stack()
    auth = new_user(client)
    sid = new_session(client, auth)
    other = new_session(client, auth)
    racing: list[int] = []
    with every_fifth_call_fails() as counts:
        run_id = send(client, auth, sid, "Please do this\n!shell echo one\n!shell echo two")["run_id"]

        def race(writer: str) -> None:  # two writers racing for the next seq of one session's log
            for n in range(8):
                racing.append(container.events.append(other, "file", {"n": n}, key=f"{writer}/{n}").seq)

        racers = [threading.Thread(target=race, args=(w,)) for w in ("a", "b")]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(60)
        mine = ended(container, sid, run_id, "completed")
    assert counts["injected"] >= 10, counts  # faults really were injected throughout
    assert sorted(racing) == list(range(1, 17))  # gap-free, no seq given twice
    assert [e.seq for e in container.events.read(other, 0, None)] == list(range(1, 17))
    outputs = [
        e.data["content"]["output"].strip() for e in mine if e.type == "tool" and e.data["status"] == "called"
    ]
    assert outputs == ["one", "two"]
    takes_the_next_message(container, client, auth, sid)

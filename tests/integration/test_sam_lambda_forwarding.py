"""LOCAL_LAMBDA_ENDPOINT: the local Invoke endpoint forwards tasks to `sam local start-lambda` and answers
as Lambda does, including for the unhandled error SAM CLI passes on as a success.

The sam side here speaks start-lambda's wire answers as SAM CLI 1.170 gives them (the real one runs in
`make sam-test`); the caller is the real boto3 Lambda client, as moto's Step Functions is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from samtranslator.yaml_helper import yaml_parse

from riadex.entrypoints.local.functions import FINALIZER, read_template
from riadex.entrypoints.local.lambda_invoke import LambdaInvokeServer
from riadex.entrypoints.local.sam_lambda import SamLocalLambda, is_unhandled_error, logical_id
from tests.support.http_server import LocalHTTPServer, QuietHandler

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
# awslambdaric 4.x's body for `raise RunNotOpen("run_1 is closed")`, as sam local returns it: no header.
RIC_ERROR = {
    "errorMessage": "run_1 is closed",
    "errorType": "RunNotOpen",
    "requestId": "5e5a0b49-3d6b-4a8c-9d7e-1f0c2b3a4d5e",
    "stackTrace": ['  File "/var/runtime/awslambdaric/bootstrap.py", line 190, in handle_event_request\n'],
}


class _SamLocal(QuietHandler):
    def do_POST(self) -> None:
        event = self.read_json()
        function = self.path.split("/functions/", 1)[1].split("/", 1)[0]
        self.server.owner.append((function, event))  # type: ignore[attr-defined]
        if function == "FailRunFunction":
            self.send_json(200, RIC_ERROR)
        elif function == "ThinkFunction":  # sam's own check matched: the header is there
            marked = {"X-Amz-Function-Error": "Unhandled"}
            self.send_json(200, {"errorType": "Boom", "errorMessage": "x"}, marked)
        elif function == "NoSuchFunction":
            self.send_json(404, {"Type": "User", "Message": "Function not found"})
        else:  # a result that merely mentions an error is a result
            self.send_json(200, {"ok": True, "echo": event, "errorType": "not-an-error"})


@pytest.fixture
def forwarded() -> Iterator[tuple[Any, list[tuple[str, Any]]]]:
    calls: list[tuple[str, Any]] = []
    with LocalHTTPServer(_SamLocal, owner=calls) as sam:
        remote = SamLocalLambda(sam.url)
        server = LambdaInvokeServer()
        server.start()
        for name in ("finish-run", "fail-run", "think", "no-such"):
            server.register(f"riadex-agent-{name}", remote.handler(name))
        client = boto3.client(
            "lambda",
            region_name="us-east-1",
            endpoint_url=server.url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 1}),
        )
        yield client, calls
        server.stop()


def _invoke(client: Any, name: str, event: dict[str, Any]) -> tuple[str | None, Any]:
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:riadex-agent-{name}"
    answer = client.invoke(FunctionName=arn, Payload=json.dumps(event).encode())
    return answer.get("FunctionError"), json.loads(answer["Payload"].read())


def test_a_result_comes_back_as_it_is(forwarded: tuple[Any, list[tuple[str, Any]]]) -> None:
    client, calls = forwarded
    error, payload = _invoke(client, "finish-run", {"run_id": "run_1"})
    assert error is None
    assert payload == {"ok": True, "echo": {"run_id": "run_1"}, "errorType": "not-an-error"}
    assert calls == [("FinishRunFunction", {"run_id": "run_1"})]


def test_the_runtimes_error_body_without_the_header_is_an_unhandled_error(
    forwarded: tuple[Any, list[tuple[str, Any]]],
) -> None:
    client, _ = forwarded
    error, payload = _invoke(client, "fail-run", {"run_id": "run_1"})
    assert error == "Unhandled"
    assert payload == {"errorType": "RunNotOpen", "errorMessage": "run_1 is closed"}


def test_a_marked_error_stays_one(forwarded: tuple[Any, list[tuple[str, Any]]]) -> None:
    client, _ = forwarded
    assert _invoke(client, "think", {}) == ("Unhandled", {"errorType": "Boom", "errorMessage": "x"})


def test_sam_refusing_the_call_is_a_service_error(forwarded: tuple[Any, list[tuple[str, Any]]]) -> None:
    client, _ = forwarded
    error, payload = _invoke(client, "no-such", {})
    assert error == "Unhandled"
    assert payload["errorType"] == "ServiceException"
    assert "404" in payload["errorMessage"]


def test_only_the_runtimes_error_shape_counts() -> None:
    assert is_unhandled_error(RIC_ERROR)
    assert is_unhandled_error({"errorType": "X", "errorMessage": "y"})
    assert not is_unhandled_error({"errorType": "X", "errorMessage": "y", "run_id": "run_1"})
    assert not is_unhandled_error({"errorType": "X"})
    assert not is_unhandled_error([RIC_ERROR])


def test_every_local_task_is_a_function_of_the_template() -> None:
    resources = yaml_parse(TEMPLATE.read_text())["Resources"]
    for name in [*read_template().tasks.values(), FINALIZER]:
        function = resources.get(logical_id(name))
        assert function is not None, name
        assert function["Type"] == "AWS::Serverless::Function", name

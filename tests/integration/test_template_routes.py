"""The SAM template, translated the way `sam deploy` translates it, routes every path of the API.

A route that exists only in an inline OpenAPI body can silently swallow the functions' Api events
(SAM merges them only on request), so this checks the translated REST API, not the YAML we wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
STREAMING = {
    ("get", "/api/v1/sessions/{session_id}/events"),
    ("get", "/api/v1/runs/{run_id}/events"),
    ("post", "/api/v1/sessions/{session_id}/chat"),
}


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


@pytest.fixture(scope="module")
def api_body(monkeypatch_module: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch_module.setenv("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(TEMPLATE.read_text())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://bucket/key"  # what `sam package` substitutes
    translated = transform(template, {}, _NoManagedPolicies())
    body: dict[str, Any] = translated["Resources"]["RestApi"]["Properties"]["Body"]
    return body


@pytest.fixture(scope="module")
def monkeypatch_module() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _integration_uri(spec: dict[str, Any]) -> str:
    return str(spec["x-amazon-apigateway-integration"]["uri"])


def test_json_routes_reach_the_api_function(api_body: dict[str, Any]) -> None:
    paths = api_body["paths"]
    proxy = paths["/api/v1/{proxy+}"]["x-amazon-apigateway-any-method"]
    assert "ApiFunction" in _integration_uri(proxy)
    assert proxy["security"] == [{"CognitoAuthorizer": []}]
    health = paths["/api/v1/health"]["get"]
    assert "ApiFunction" in _integration_uri(health)
    assert health["security"] == [{"NONE": []}]


@pytest.mark.parametrize(("method", "path"), sorted(STREAMING))
def test_sse_routes_stream_from_the_stream_function(api_body: dict[str, Any], method: str, path: str) -> None:
    spec = api_body["paths"][path][method]
    integration = spec["x-amazon-apigateway-integration"]
    assert "StreamFunction" in _integration_uri(spec)
    assert "response-streaming-invocations" in _integration_uri(spec)
    assert integration["responseTransferMode"] == "STREAM"
    assert integration["timeoutInMillis"] == 900000
    # EventSource cannot send a header: these take the token from ?access_token= too.
    assert spec["security"] == [{"StreamAuthorizer": []}]
    authorizer = api_body["securityDefinitions"]["StreamAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "request"
    assert authorizer["authorizerResultTtlInSeconds"] == 0
    assert "identitySource" not in authorizer

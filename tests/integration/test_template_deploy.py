"""The deployed shape of the API, checked on the SAM-translated template: CORS preflights need no
token and the gateway's own errors carry CORS headers; binary bodies pass through unmangled."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.template import api_body, translated

STREAM_PATHS = [
    "/api/v1/sessions/{session_id}/events",
    "/api/v1/runs/{run_id}/events",
    "/api/v1/sessions/{session_id}/chat",
]


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    return api_body()


@pytest.mark.parametrize("path", ["/api/v1/{proxy+}", *STREAM_PATHS])
def test_preflight_reaches_the_app_without_an_authorizer(body: dict[str, Any], path: str) -> None:
    options = body["paths"][path]["options"]
    assert options["security"] == [{"NONE": []}]
    integration = options["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert "ApiFunction" in str(integration["uri"])  # its CORS middleware answers


def test_every_path_answers_preflight(body: dict[str, Any]) -> None:
    for path, methods in body["paths"].items():
        if path == "/api/v1/health":
            continue  # no auth: ANY-less GET, a simple request needs no preflight
        assert "options" in methods, path


@pytest.mark.parametrize("kind", ["DEFAULT_4XX", "DEFAULT_5XX"])
def test_gateway_errors_carry_cors_headers(body: dict[str, Any], kind: str) -> None:
    params = body["x-amazon-apigateway-gateway-responses"][kind]["responseParameters"]
    origin = params["gatewayresponse.header.Access-Control-Allow-Origin"]
    assert origin == {"Fn::If": ["HasCors", "method.request.header.Origin", "'none'"]}
    assert params["gatewayresponse.header.Vary"] == "'Origin'"


def test_cors_origins_reach_the_functions() -> None:
    resources = translated()["Resources"]
    for name in ("ApiFunction", "StreamFunction"):
        env = resources[name]["Properties"]["Environment"]["Variables"]
        assert env["CORS_ORIGINS"] == {"Ref": "CorsAllowedOrigins"}


def test_binary_bodies_pass_unmangled(body: dict[str, Any]) -> None:
    assert body["x-amazon-apigateway-binary-media-types"] == ["*/*"]


def test_large_files_bypass_the_lambda_payload_limit() -> None:
    resources = translated()["Resources"]
    env = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    # base64 of the cap plus the multipart overhead fits in Lambda's 6 MB request payload
    inline = int(env["INLINE_UPLOAD_MAX_BYTES"])
    assert (inline + 64 * 1024) * 4 / 3 < 6 * 1000 * 1000
    assert int(env["DOWNLOAD_REDIRECT_BYTES"]) * 4 / 3 < 6 * 1000 * 1000
    cors = resources["ObjectsBucket"]["Properties"]["CorsConfiguration"]
    rule = cors["Fn::If"][1]["CorsRules"][0]
    assert set(rule["AllowedMethods"]) == {"GET", "POST"}

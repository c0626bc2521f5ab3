"""The deployed shape of the API, checked on the SAM-translated template: CORS preflights need no
token and the gateway's own errors carry CORS headers; binary bodies pass through unmangled."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from riadex.entrypoints.observability import METRICS
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


# --- Secure by default --------------------------------------------------------------------------


def _resources() -> dict[str, Any]:
    resources: dict[str, Any] = translated()["Resources"]
    return resources


def _of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in _resources().items() if r["Type"] == kind}


def test_self_sign_up_is_off_unless_asked_for() -> None:
    template = translated()
    assert template["Parameters"]["SelfSignUp"]["Default"] == "false"
    config = _resources()["UserPool"]["Properties"]["AdminCreateUserConfig"]
    assert config["AllowAdminCreateUserOnly"] == {"Fn::If": ["AllowsSelfSignUp", False, True]}
    assert template["Conditions"]["AllowsSelfSignUp"] == {"Fn::Equals": [{"Ref": "SelfSignUp"}, "true"]}


def test_the_stage_is_throttled() -> None:
    (stage,) = _of_type("AWS::ApiGateway::Stage").values()
    (setting,) = stage["Properties"]["MethodSettings"]
    assert (setting["ResourcePath"], setting["HttpMethod"]) == ("/*", "*")
    assert setting["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert setting["ThrottlingBurstLimit"] == {"Ref": "ApiThrottleBurstLimit"}


def test_functions_that_start_sandboxes_have_reserved_concurrency() -> None:
    for name in ("AcquireSandboxFunction", "ActFunction"):
        props = _resources()[name]["Properties"]
        assert props["ReservedConcurrentExecutions"] == {"Ref": "SandboxReservedConcurrency"}, name


def _statements() -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for name, resource in _resources().items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"):
            documents.append(props["PolicyDocument"])
        for document in documents:
            found += [(name, statement) for statement in document["Statement"]]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_parameters_and_secrets_are_scoped_to_the_stack() -> None:
    checked = 0
    for name, statement in _statements():
        actions = _as_list(statement["Action"])
        if not any(str(a).startswith(("ssm:", "secretsmanager:")) for a in actions):
            continue
        for resource in _as_list(statement["Resource"]):
            text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
            assert (
                ":parameter/riadex/${AWS::StackName}/" in text or ":secret:riadex/${AWS::StackName}/" in text
            ), (
                name,
                text,
            )
            checked += 1
    assert checked >= 5


def test_data_is_retained_when_the_stack_goes() -> None:
    kept = [*_of_type("AWS::DynamoDB::Table"), "UserPool"]
    assert len(kept) == 6
    for name in kept:
        resource = _resources()[name]
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name


def test_the_bucket_expires_objects_and_refuses_plain_http() -> None:
    bucket = _resources()["ObjectsBucket"]["Properties"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "ObjectsExpireDays"}
    denies = [
        s
        for name, s in _statements()
        if name == "ObjectsBucketPolicy" and s["Effect"] == "Deny" and s["Action"] == "s3:*"
    ]
    assert denies
    assert denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_quotas_reach_the_functions_that_start_runs() -> None:
    for name in ("ApiFunction", "StreamFunction"):
        props = _resources()[name]["Properties"]
        env = props["Environment"]["Variables"]
        assert env["QUOTA_CONCURRENT_RUNS"] == {"Ref": "QuotaConcurrentRuns"}
        assert env["QUOTA_LIVE_SANDBOXES"] == {"Ref": "QuotaLiveSandboxes"}
        assert env["QUOTA_RUNS_PER_DAY"] == {"Ref": "QuotaRunsPerDay"}
    parameters = translated()["Parameters"]
    assert all(
        parameters[p]["Default"] > 0 for p in ("QuotaConcurrentRuns", "QuotaLiveSandboxes", "QuotaRunsPerDay")
    )


# --- Operable -------------------------------------------------------------------------------------


def test_every_function_logs_to_a_group_with_retention() -> None:
    functions = _of_type("AWS::Lambda::Function")
    assert len(functions) >= 16
    groups = {
        str(g["Properties"]["LogGroupName"]["Fn::Sub"]): g["Properties"]
        for g in _of_type("AWS::Logs::LogGroup").values()
        if isinstance(g["Properties"].get("LogGroupName"), dict)
    }
    for name in functions:
        group = groups.get(f"/aws/lambda/${{{name}}}")
        assert group is not None, name
        assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_log_group_has_the_retention() -> None:
    for name, group in _of_type("AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name


def test_state_machine_and_api_access_logs() -> None:
    (machine,) = _of_type("AWS::StepFunctions::StateMachine").values()
    logging = machine["Properties"]["LoggingConfiguration"]
    assert logging["Level"] == "ERROR"
    assert logging["IncludeExecutionData"] is False
    assert logging["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["StateMachineLogGroup", "Arn"]
    }
    (stage,) = _of_type("AWS::ApiGateway::Stage").values()
    access = stage["Properties"]["AccessLogSetting"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    line = json.loads(access["Format"])
    assert line["path"] == "$context.path"  # the path without its query string
    assert not any("querystring" in v.lower() or "requestoverride" in v.lower() for v in line.values())
    assert all(s.get("LoggingLevel", "OFF") == "OFF" for s in stage["Properties"]["MethodSettings"])


def test_the_finalizer_and_the_reaper_have_dead_letter_queues() -> None:
    resources = _resources()
    rule = resources["FinalizeRunFunctionExecutionEnded"]["Properties"]["Targets"][0]
    assert rule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FinalizerDeadLetterQueue", "Arn"]}
    schedule = resources["ReaperFunctionEvery5Minutes"]["Properties"]["Targets"][0]
    assert schedule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["ReaperDeadLetterQueue", "Arn"]}
    for function, queue in (
        ("FinalizeRunFunction", "FinalizerDeadLetterQueue"),
        ("ReaperFunction", "ReaperDeadLetterQueue"),
    ):
        config = resources[function]["Properties"]["DeadLetterConfig"]
        assert config["TargetArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    statements = [s for name, s in _statements() if name == "DeadLetterQueuesPolicy"]
    assert {s["Principal"]["Service"] for s in statements} == {"events.amazonaws.com"}


def _alarm_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {
        (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
        for m in props["Metrics"]
        if "MetricStat" in m
    }


def test_alarms_cover_failures_dead_letters_5xx_throttles_and_the_reaper() -> None:
    alarms = _of_type("AWS::CloudWatch::Alarm")
    watched = set().union(*(_alarm_metrics(a) for a in alarms.values()))
    assert {
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "Errors"),
    } <= watched
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())


def test_the_dashboard_shows_the_metrics_the_code_emits() -> None:
    (dashboard,) = _of_type("AWS::CloudWatch::Dashboard").values()
    text = dashboard["Properties"]["DashboardBody"]["Fn::Sub"][0]
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))["widgets"]
    assert len(widgets) >= 6
    emitted = set(re.findall(r'emit\(\s*"(\w+)"', _sources())) | {"Steps", "InputTokens", "OutputTokens"}
    assert emitted <= set(METRICS)  # the loop counters are emitted from a table in observability
    for metric in METRICS:
        assert metric in text, metric


def _sources() -> str:
    root = Path(__file__).resolve().parents[2] / "layers" / "core" / "riadex"
    return "".join(p.read_text() for p in root.rglob("*.py"))

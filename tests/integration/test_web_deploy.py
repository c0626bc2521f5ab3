"""Deploying the web client: the template's bucket + CloudFront (API under /api/* on the same
distribution) and `make deploy-web`'s upload into a bucket (moto), with the config.json the client reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from riadex.config import Settings
from riadex.entrypoints.local.web import WEB_DIR
from riadex.entrypoints.local.web import web_config as local_config
from tests.integration.test_template_tables import TEMPLATE, _CfnLoader
from web.deploy import upload
from web.deploy import web_config as deployed_config

OUTPUTS = {"UserPoolId": "us-east-1_abc", "UserPoolClientId": "client123", "WebBucketName": "riadex-web"}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="riadex-web")
        yield client


def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506
    return loaded


def test_the_template_serves_the_web_bucket_privately_and_the_api_on_the_same_origin() -> None:
    template = _template()
    resources = template["Resources"]
    config = resources["WebDistribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    assert origins["web"]["OriginAccessControlId"] == {"GetAtt": "WebOriginAccessControl.Id"}
    assert "RestApi" in str(origins["api"]["DomainName"])
    api_paths = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert api_paths["/api/*"]["TargetOriginId"] == "api"
    assert "POST" in api_paths["/api/*"]["AllowedMethods"]
    block = resources["WebBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values())
    statements = resources["WebBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    reader = next(s for s in statements if s["Effect"] == "Allow")
    assert "WebDistribution" in str(reader["Condition"])
    flows = resources["UserPoolClient"]["Properties"]["ExplicitAuthFlows"]
    assert "ALLOW_USER_PASSWORD_AUTH" in flows
    assert {"WebUrl", "WebBucketName", "WebDistributionId"} <= set(template["Outputs"])


def test_deploy_uploads_the_app_novnc_and_its_config(s3: Any) -> None:
    if not (WEB_DIR / "node_modules" / "@novnc" / "novnc").is_dir():
        pytest.skip("noVNC is not installed: `make install` runs `npm ci` in web/")
    keys = upload(s3, "riadex-web", OUTPUTS, "us-east-1")
    assert {"index.html", "app.js", "api.js", "style.css", "config.json", "vendor/novnc/core/rfb.js"} <= set(
        keys
    )
    index = s3.get_object(Bucket="riadex-web", Key="index.html")
    assert index["ContentType"] == "text/html"
    assert b'<script type="module" src="app.js">' in index["Body"].read()
    assert s3.get_object(Bucket="riadex-web", Key="app.js")["ContentType"] == "text/javascript"
    config = json.loads(s3.get_object(Bucket="riadex-web", Key="config.json")["Body"].read())
    assert config["authMode"] == "cognito"
    assert config["cognito"] == {
        "region": "us-east-1",
        "userPoolId": "us-east-1_abc",
        "clientId": "client123",
    }


def test_the_deployed_config_has_the_shape_of_the_local_one() -> None:
    local = local_config(Settings(auth_mode="local"))
    deployed = deployed_config(OUTPUTS, "us-east-1")
    assert set(local) == set(deployed)
    assert set(local["cognito"]) == set(deployed["cognito"])
    assert local["apiBase"] == deployed["apiBase"] == "/api/v1"

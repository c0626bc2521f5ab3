"""`make deploy-web`: upload web/ (and noVNC from web/node_modules) to the stack's web bucket, write the
config.json the client reads (API path, Cognito ids) from the stack's outputs, invalidate CloudFront.

usage: python web/deploy.py [--stack riadex] [--region us-east-1]"""

from __future__ import annotations

import argparse
import json
import mimetypes
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

WEB = Path(__file__).resolve().parent
NOVNC = WEB / "node_modules" / "@novnc" / "novnc"
APP_FILES = ("index.html", "app.js", "api.js", "style.css")


def files_to_upload(web: Path = WEB) -> Iterator[tuple[Path, str]]:
    """(local file, key): the app's files, then noVNC's ES modules under vendor/novnc/."""
    for name in APP_FILES:
        yield web / name, name
    novnc = web / "node_modules" / "@novnc" / "novnc"
    if not novnc.is_dir():
        raise SystemExit("noVNC is missing: run `npm ci` in web/ (make install does)")
    for folder in ("core", "vendor"):
        for path in sorted((novnc / folder).rglob("*")):
            if path.is_file():
                yield path, f"vendor/novnc/{path.relative_to(novnc).as_posix()}"
    modules = web / "node_modules"
    yield modules / "marked" / "lib" / "marked.esm.js", "vendor/marked/marked.esm.js"
    yield modules / "dompurify" / "dist" / "purify.es.mjs", "vendor/dompurify/purify.es.mjs"


def web_config(outputs: dict[str, str], region: str) -> dict[str, Any]:
    return {
        "apiBase": "/api/v1",  # the distribution sends /api/* to the REST API: same origin, no CORS
        "authMode": "cognito",
        "cognito": {
            "region": region,
            "userPoolId": outputs["UserPoolId"],
            "clientId": outputs["UserPoolClientId"],
        },
        "novnc": "/vendor/novnc/core/rfb.js",
    }


def upload(s3: Any, bucket: str, outputs: dict[str, str], region: str, web: Path = WEB) -> list[str]:
    keys = []
    for path, key in files_to_upload(web):
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in (".js", ".mjs"):
            kind = "text/javascript"
        # index.html and the app's modules change with each deploy; noVNC's files only with its version.
        cache = "no-cache" if key in APP_FILES else "public, max-age=86400"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=kind, CacheControl=cache)
        keys.append(key)
    s3.put_object(
        Bucket=bucket,
        Key="config.json",
        Body=json.dumps(web_config(outputs, region), indent=2).encode(),
        ContentType="application/json",
        CacheControl="no-cache",
    )
    keys.append("config.json")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="riadex")
    parser.add_argument("--region", default=None)
    args = parser.parse_args()
    session = boto3.session.Session(region_name=args.region)
    region = session.region_name or "us-east-1"
    stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    keys = upload(session.client("s3"), outputs["WebBucketName"], outputs, region)
    session.client("cloudfront").create_invalidation(
        DistributionId=outputs["WebDistributionId"],
        InvalidationBatch={"Paths": {"Quantity": 1, "Items": ["/*"]}, "CallerReference": str(time.time())},
    )
    print(f"Uploaded {len(keys)} files; the web client is at {outputs['WebUrl']}")


if __name__ == "__main__":
    main()

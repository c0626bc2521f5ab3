"""Large files over HTTP on the local stack, as in AWS: multipart uploads are capped below Lambda's
payload limit; larger files go straight to the object store through a presigned POST (moto's S3 here)
and are completed through the API; large downloads answer 307 to a presigned GET; a session delete
removes its objects."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from tests.e2e.conftest import MAX_UPLOAD_BYTES, Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base, timeout=60) as client:
        yield client


def _user(api: httpx.Client, name: str) -> dict[str, str]:
    token = api.post("/api/v1/users", json={"name": name}).json()["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


def _session(api: httpx.Client, auth: dict[str, str]) -> str:
    return str(api.put("/api/v1/sessions", headers=auth).json()["data"]["session_id"])


def _objects_under(presigned: str, prefix: str) -> list[str]:
    """The keys under `prefix` in the stack's own S3 (moto), found from a URL it presigned."""
    url = urlsplit(presigned)
    bucket = url.path.strip("/").split("/", 1)[0]
    s3 = boto3.client(
        "s3",
        endpoint_url=f"{url.scheme}://{url.netloc}",
        region_name="us-east-1",
        aws_access_key_id="riadex-local",
        aws_secret_access_key="riadex-local",
    )
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def _send(ticket: dict[str, object], name: str, data: bytes, content_type: str) -> httpx.Response:
    fields = ticket["fields"]
    assert isinstance(fields, dict)
    return httpx.post(str(ticket["url"]), data=fields, files={"file": (name, data, content_type)}, timeout=30)


def test_a_large_file_round_trips_through_the_object_store(api: httpx.Client) -> None:
    auth = _user(api, "big")
    sid = _session(api, auth)
    data = os.urandom(1024 * 1024) + b"\x00\xff\r\n"  # binary, not valid UTF-8; over both caps

    too_big_inline = api.post(
        f"/api/v1/sessions/{sid}/files",
        headers=auth,
        files={"file": ("big.bin", data, "application/octet-stream")},
    )
    assert too_big_inline.status_code == 413
    assert too_big_inline.json()["code"] == 413

    started = api.post(
        f"/api/v1/sessions/{sid}/uploads",
        headers=auth,
        json={"name": "big.bin", "size": len(data), "content_type": "application/octet-stream"},
    )
    assert started.status_code == 200, started.text
    ticket = started.json()["data"]
    assert ticket["method"] == "POST"
    assert ticket["upload_id"].startswith("upl_")
    assert ticket["max_bytes"] == MAX_UPLOAD_BYTES

    early = api.post(f"/api/v1/sessions/{sid}/uploads/{ticket['upload_id']}/complete", headers=auth)
    assert early.status_code == 409  # nothing arrived yet

    sent = _send(ticket, "big.bin", data, "application/octet-stream")
    assert sent.status_code in (200, 201, 204), sent.text

    other = _user(api, "other")
    stolen = api.post(f"/api/v1/sessions/{sid}/uploads/{ticket['upload_id']}/complete", headers=other)
    assert stolen.status_code == 404

    done = api.post(f"/api/v1/sessions/{sid}/uploads/{ticket['upload_id']}/complete", headers=auth)
    assert done.status_code == 200, done.text
    record = done.json()["data"]
    assert record["name"] == "big.bin"
    assert record["size"] == len(data)
    assert record["path"].endswith("uploads/big.bin")
    again = api.post(f"/api/v1/sessions/{sid}/uploads/{ticket['upload_id']}/complete", headers=auth)
    assert again.json()["data"]["file_id"] == record["file_id"]  # idempotent

    download = api.get(f"/api/v1/sessions/{sid}/files/{record['file_id']}", headers=auth)
    assert download.status_code == 307
    location = download.headers["location"]
    fetched = httpx.get(location, timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == data
    assert "big.bin" in fetched.headers["content-disposition"]

    deleted = api.delete(f"/api/v1/sessions/{sid}", headers=auth)
    assert deleted.status_code == 200
    assert _objects_under(location, f"sessions/{sid}/") == []  # the objects went with the session


def test_small_binary_files_stay_inline_and_unmangled(api: httpx.Client) -> None:
    auth = _user(api, "small")
    sid = _session(api, auth)
    data = bytes(range(256)) * 100
    sent = api.post(
        f"/api/v1/sessions/{sid}/files",
        headers=auth,
        files={"file": ("b.bin", data, "application/octet-stream")},
    )
    assert sent.status_code == 200, sent.text
    got = api.get(f"/api/v1/sessions/{sid}/files/{sent.json()['data']['file_id']}", headers=auth)
    assert got.status_code == 200
    assert got.content == data


def test_bad_direct_uploads_are_refused_before_anything_is_written(api: httpx.Client) -> None:
    auth = _user(api, "bad")
    sid = _session(api, auth)
    over = api.post(
        f"/api/v1/sessions/{sid}/uploads", headers=auth, json={"name": "x.bin", "size": MAX_UPLOAD_BYTES + 1}
    )
    assert over.status_code == 413
    assert over.json()["code"] == 413
    kind = api.post(
        f"/api/v1/sessions/{sid}/uploads",
        headers=auth,
        json={"name": "x.exe", "size": 10, "content_type": "application/x-msdownload"},
    )
    assert kind.status_code == 415
    bad_name = api.post(f"/api/v1/sessions/{sid}/uploads", headers=auth, json={"name": "..", "size": 1})
    assert bad_name.status_code in (400, 422)
    unknown = api.post(f"/api/v1/sessions/{sid}/uploads/upl_nope/complete", headers=auth)
    assert unknown.status_code == 404
    listed = api.get(f"/api/v1/sessions/{sid}", headers=auth)
    assert listed.status_code == 200

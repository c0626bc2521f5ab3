"""ObjectStore over S3 (moto locally): uploaded files, and tool outputs too large for an event.

The client is made on first use: most requests never store anything, and a Lambda's cold start should
not pay for a client it does not need.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any


class S3ObjectStore:
    def __init__(self, client: Callable[[], Any], bucket: str) -> None:
        self._make_client = client
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    @cached_property
    def _s3(self) -> Any:
        return self._make_client()

    def ensure_bucket(self) -> None:
        """Local stack and tests only: in AWS the template creates the bucket."""
        existing = {b["Name"] for b in self._s3.list_buckets().get("Buckets", [])}
        if self._bucket not in existing:
            self._s3.create_bucket(Bucket=self._bucket)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        return body

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._s3.delete_objects(
                Bucket=self._bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )

    def put_text(self, key: str, text: str) -> str:
        """A large tool output; returns the reference a client resolves (s3://bucket/key)."""
        self.put(key, text.encode(), "application/json; charset=utf-8")
        return f"s3://{self._bucket}/{key}"

    def get_text(self, key: str) -> str:
        return self.get(key).decode()

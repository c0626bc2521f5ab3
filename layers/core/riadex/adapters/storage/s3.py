"""ObjectStore over S3 (moto's S3 locally). The client is made on first use: most requests never
store anything, and importing boto3 costs a cold start a few hundred milliseconds."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from riadex.application.files import ObjectInfo
from riadex.domain.errors import NotFound


class S3ObjectStore:
    def __init__(self, bucket: str, region: str) -> None:
        self.bucket = bucket
        self.region = region
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # SigV4 for the presigned URLs too (the default may still sign them with v2).
            self._client = boto3.client(
                "s3", region_name=self.region, config=Config(signature_version="s3v4")
            )
        return self._client

    def put_text(self, key: str, text: str) -> str:
        self._s3().put_object(
            Bucket=self.bucket, Key=key, Body=text.encode(), ContentType="application/json; charset=utf-8"
        )
        return f"s3://{self.bucket}/{key}"

    def get_text(self, key: str) -> str:
        body = self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return str(body.decode())

    # --- bytes: the session files of riadex.application.files -----------------------------------

    def put(self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None) -> None:
        self._s3().put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, Metadata=metadata or {}
        )

    def get(self, key: str) -> bytes:
        s3 = self._s3()
        try:
            body: bytes = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            # Locally, moto's S3 does not survive a restart of the stack while the file records do.
            raise NotFound("the file's content is gone") from None
        return body

    def head(self, key: str) -> ObjectInfo | None:
        """Size, type and user metadata of an object, or None when there is none."""
        s3 = self._s3()
        try:
            found = s3.head_object(Bucket=self.bucket, Key=key)
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(
            size=int(found["ContentLength"]),
            content_type=str(found.get("ContentType") or "application/octet-stream"),
            metadata={str(k): str(v) for k, v in (found.get("Metadata") or {}).items()},
        )

    def presign_upload(
        self, key: str, content_type: str, max_bytes: int, metadata: dict[str, str], expires_in: int
    ) -> tuple[str, dict[str, str]]:
        """A presigned POST: the browser or client sends the bytes straight to S3, past the API's
        payload limits; the policy pins the key, the type, the metadata and the size range."""
        fields = {"Content-Type": content_type, **{f"x-amz-meta-{k}": v for k, v in metadata.items()}}
        conditions: list[Any] = [{k: v} for k, v in fields.items()]
        conditions.append(["content-length-range", 0, max_bytes])
        post = self._s3().generate_presigned_post(
            Bucket=self.bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
        )
        return str(post["url"]), {str(k): str(v) for k, v in post["fields"].items()}

    def presign_download(self, key: str, filename: str, content_type: str, expires_in: int) -> str:
        url: str = self._s3().generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            },
            ExpiresIn=expires_in,
        )
        return url

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (a session's files and large outputs); returns the count."""
        s3 = self._s3()
        deleted = 0
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys = [item["Key"] for item in page.get("Contents", [])]
                if keys:
                    self.delete(keys)
                    deleted += len(keys)
        except s3.exceptions.NoSuchBucket:
            return deleted  # nothing was ever stored (a test's or a fresh local stack's bucket)
        return deleted

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._s3().delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )

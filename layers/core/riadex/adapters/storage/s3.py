"""ObjectStore over S3 (moto's S3 locally). The client is made on first use: most requests never
store anything, and importing boto3 costs a cold start a few hundred milliseconds."""

from __future__ import annotations

from typing import Any

from riadex.domain.errors import NotFound


class S3ObjectStore:
    def __init__(self, bucket: str, region: str) -> None:
        self.bucket = bucket
        self.region = region
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", region_name=self.region)
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

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        s3 = self._s3()
        try:
            body: bytes = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            # Locally, moto's S3 does not survive a restart of the stack while the file records do.
            raise NotFound("the file's content is gone") from None
        return body

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._s3().delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )

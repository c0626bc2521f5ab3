"""ObjectStore over S3 (moto's S3 locally). The client is made on first use: most requests never
store anything, and importing boto3 costs a cold start a few hundred milliseconds."""

from __future__ import annotations

from typing import Any


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

"""boto3 clients made on first use.

Creating a client loads its service model and endpoint rules (tens of milliseconds each, plus boto3's
own import): a function that may never call SSM or ECS in an invocation should not pay that in its cold
start. The proxy builds the real client at the first attribute access and is then transparent.
"""

from __future__ import annotations

import threading
from typing import Any


class LazyClient:
    def __init__(self, service: str, region: str) -> None:
        self._service = service
        self._region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client(self._service, region_name=self._region)
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def lazy_client(service: str, region: str) -> Any:
    return LazyClient(service, region)

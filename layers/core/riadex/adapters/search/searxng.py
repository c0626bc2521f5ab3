"""SearXNG (`GET /search?format=json`), self-hosted: SEARCH_BASE_URL is required, a key is optional.

The instance must allow the json format (`search.formats` in its settings.yml). A key, when set, is
sent as a bearer token for instances behind an authenticating proxy.
"""

from __future__ import annotations

import httpx

from riadex.adapters.search.http import clamp, request_json
from riadex.application.search import SearchResult


class SearxngSearch:
    name = "searxng"

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout_seconds: float = 15.0) -> None:
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_seconds)

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        body = request_json(self._client, "SearXNG", "GET", "/search", params={"q": query, "format": "json"})
        items = body.get("results", []) if isinstance(body, dict) else []
        return [
            SearchResult(str(i.get("title", "")), str(i.get("url", "")), str(i.get("content", "")))
            for i in items[: clamp(max_results)]
            if isinstance(i, dict)
        ]

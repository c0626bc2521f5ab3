"""The HTTP round trip every search API shares: one httpx request, failures as `SearchError`."""

from __future__ import annotations

from typing import Any

import httpx

from riadex.application.search import SearchError

MAX_RESULTS = 20


def request_json(
    client: httpx.Client,
    provider: str,
    method: str,
    url: str,
    *,
    key_env: str = "SEARCH_API_KEY",
    **kwargs: Any,
) -> Any:
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise SearchError("timeout", f"{provider} search did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise SearchError("server", f"could not reach {provider} search at {url} ({exc})") from exc
    status = response.status_code
    if status in {401, 403}:
        raise SearchError(
            "auth", f"{provider} rejected the search API key ({status}): check {key_env}", status=status
        )
    if status == 429:
        raise SearchError("rate_limit", f"{provider} search rate limit reached (429)", status=status)
    if status >= 500:
        raise SearchError("server", f"{provider} search failed ({status})", status=status)
    if status >= 400:
        detail = response.text[:300]
        raise SearchError(
            "invalid_request", f"{provider} search rejected the query ({status}): {detail}", status=status
        )
    try:
        return response.json()
    except ValueError as exc:
        raise SearchError("server", f"{provider} search answered with something that is not JSON") from exc


def clamp(max_results: int) -> int:
    return max(1, min(max_results, MAX_RESULTS))

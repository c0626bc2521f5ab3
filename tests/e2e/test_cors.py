"""CORS on the local stack over HTTP: an allowed origin gets the headers on preflight (no token
needed) and on actual requests, errors included; any other origin gets none."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import ALLOWED_ORIGIN, Stack

OTHER_ORIGIN = "http://evil.riadex.test"


def _preflight(stack: Stack, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return httpx.options(
        f"{stack.base}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_preflight_for_an_allowed_origin_needs_no_token(stack: Stack) -> None:
    for path, method in [
        ("/api/v1/sessions", "PUT"),
        ("/api/v1/sessions/ses_x/chat", "POST"),
        ("/api/v1/sessions/ses_x/events", "GET"),
    ]:
        answer = _preflight(stack, path, ALLOWED_ORIGIN, method)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
        assert method in answer.headers["access-control-allow-methods"]
        allowed = answer.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed
        assert "content-type" in allowed
        assert int(answer.headers["access-control-max-age"]) > 0


def test_preflight_from_another_origin_is_refused(stack: Stack) -> None:
    answer = _preflight(stack, "/api/v1/sessions", OTHER_ORIGIN, "PUT")
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


def test_actual_requests_carry_the_headers_for_the_allowed_origin_only(stack: Stack) -> None:
    _, auth = stack.user("cors")
    made = httpx.put(f"{stack.base}/api/v1/sessions", headers={**auth, "Origin": ALLOWED_ORIGIN})
    assert made.status_code == 200
    assert made.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "retry-after" in made.headers["access-control-expose-headers"].lower()
    # An error answer too: a browser app must be able to read the envelope of a 401.
    denied = httpx.get(f"{stack.base}/api/v1/sessions", headers={"Origin": ALLOWED_ORIGIN})
    assert denied.status_code == 401
    assert denied.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert denied.json()["code"] == 401

    other = httpx.put(f"{stack.base}/api/v1/sessions", headers={**auth, "Origin": OTHER_ORIGIN})
    assert other.status_code == 200  # CORS is the browser's check; the server only withholds the headers
    assert "access-control-allow-origin" not in other.headers

"""Chromium's own EventSource (Debian's /usr/bin/chromium, driven by Playwright) follows a session
stream across the server's `reconnect` and receives every event once, in order."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import STREAM_MAX_SECONDS, Stack

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--headless",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
PAGE = """<!doctype html><meta charset="utf-8"><title>riadex events</title><script>
window.got = []; window.reconnects = 0; window.opens = 0;
const source = new EventSource(location.search.slice(1));
source.onopen = () => { window.opens += 1; };
for (const type of ["run", "message", "done", "error", "title", "plan", "step", "tool", "wait", "delta",
                    "sandbox"]) {
  source.addEventListener(type, (e) =>
    window.got.push({id: e.lastEventId, type, seq: JSON.parse(e.data).seq}));
}
source.addEventListener("reconnect", () => { window.reconnects += 1; });
</script>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed: `make system-deps` (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (requirements.txt)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def _wait(page: Any, condition: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(condition):
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {condition}: {page.evaluate('window.got')}")


def test_eventsource_follows_a_session_across_a_server_reconnect(stack: Stack, browser: Any) -> None:
    token, auth = stack.user("chromium")
    sid = stack.session(auth)
    page = browser.new_page()
    try:
        # Serve the page from the API's own origin (intercepted), so EventSource needs no CORS.
        page.route(
            re.compile(r".*/__eventsource_test\?.*"),
            lambda route: route.fulfill(body=PAGE, content_type="text/html"),
        )
        stream_url = f"/api/v1/sessions/{sid}/events?access_token={token}"
        page.goto(f"{stack.base}/__eventsource_test?{stream_url}")
        _wait(page, "window.opens >= 1")

        post = httpx.post(
            f"{stack.base}/api/v1/sessions/{sid}/messages", headers=auth, json={"message": "first"}
        )
        assert post.status_code == 202
        _wait(page, "window.got.filter(e => e.type === 'done').length >= 1")
        # Outlive the stream's maximum duration: the server says reconnect, EventSource comes back
        # with Last-Event-ID, and the next run's events follow without loss or repeat.
        _wait(page, "window.reconnects >= 1 && window.opens >= 2", timeout=STREAM_MAX_SECONDS + 10)
        post = httpx.post(
            f"{stack.base}/api/v1/sessions/{sid}/messages", headers=auth, json={"message": "second"}
        )
        assert post.status_code == 202
        _wait(page, "window.got.filter(e => e.type === 'done').length >= 2")
        got = page.evaluate("window.got")
    finally:
        page.close()
    last = httpx.get(f"{stack.base}/api/v1/sessions/{sid}", headers=auth).json()["data"]["last_seq"]
    assert [int(e["id"]) for e in got] == list(range(1, last + 1))
    assert [e["seq"] for e in got] == list(range(1, last + 1))
    assert [e["type"] for e in got].count("done") == 2

"""The web client in Debian's Chromium (driven by Playwright) against the local stack started as
`make dev` starts it, with the offline scripted model: sign in, sessions, chat with tool cards, a
question answered in the page, Stop, a reload mid-run, uploads and the views. Screenshots of the
main screens go to tests/artifacts/web/ (look at them)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.stack import ROOT, running_stack

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts" / "web"
TIMEOUT_MS = 45_000
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed: `make system-deps` (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (requirements)")
    if not (ROOT / "web" / "index.html").is_file():
        pytest.fail("web/index.html is missing")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


class Page:
    """One browser page on the stack, recording console errors and failed requests."""

    def __init__(self, browser: Any, stack: Stack, viewport: dict[str, int] = LAPTOP) -> None:
        self.context = browser.new_context(viewport=viewport, accept_downloads=True)
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: d.accept())
        self.base = stack.base

    def sign_in(self, name: str) -> None:
        self.page.goto(self.base + "/")
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("button", name="New session", exact=True).wait_for()

    def new_session(self) -> str:
        before = self.page.url
        self.page.get_by_role("button", name="New session", exact=True).click()
        self.page.wait_for_url(lambda url: re.search(r"#/s/ses_\w+$", url) is not None and url != before)
        sid = self.page.url.split("#/s/")[1]
        self.page.locator(f'.session-item.current[data-sid="{sid}"]').wait_for()
        return sid

    def send(self, text: str) -> None:
        box = self.page.get_by_label("Message", exact=True)
        box.fill(text)
        box.press("Enter")

    def wait_done(self, count: int = 1) -> None:
        self.page.wait_for_function(f"document.querySelectorAll('.done').length >= {count}")

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def web(browser: Any, stack: Stack) -> Iterator[Page]:
    page = Page(browser, stack)
    try:
        yield page
    finally:
        page.close()


def _server_seqs(stack: Stack, token: str, sid: str) -> int:
    got = httpx.get(f"{stack.base}/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {token}"})
    return int(got.json()["data"]["last_seq"])


def _token(web: Page) -> str:
    return str(web.page.evaluate("JSON.parse(localStorage.getItem('riadex.auth')).token"))


UNNAMED_CONTROLS = """() => [...document.querySelectorAll('button, input, textarea, [role=tab]')]
  .filter(e => e.offsetParent !== null)
  .filter(e => !(e.getAttribute('aria-label') || (e.labels && e.labels.length) || e.textContent.trim()))
  .map(e => e.outerHTML.slice(0, 80))"""

DROP_FILE = """([name, text]) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: 'text/markdown'}));
  const zone = document.getElementById('dropzone');
  zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: data, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
}"""


def test_sign_in_chat_with_tools_views_and_sign_out(web: Page, stack: Stack) -> None:
    page = web.page
    page.goto(web.base + "/")
    web.shot("signin")
    web.sign_in("Grace")
    sid = web.new_session()
    # Shift+Enter is a newline, Enter sends.
    box = page.get_by_label("Message", exact=True)
    box.type("Set things up")
    box.press("Shift+Enter")
    box.type("!shell echo web-$((6 * 7))")
    assert box.input_value() == "Set things up\n!shell echo web-$((6 * 7))"
    box.press("Shift+Enter")
    box.type("!write notes/plan.txt ship the web client")
    box.press("Shift+Enter")
    box.type("!read notes/plan.txt")
    box.press("Enter")
    web.wait_done()
    shell_card = page.locator("article.tool.shell")
    assert "web-42" in shell_card.inner_text()
    assert "echo web-$((6 * 7))" in shell_card.inner_text()
    file_cards = page.locator("article.tool.file")
    assert file_cards.count() == 2
    assert "ship the web client" in file_cards.nth(1).inner_text()
    assert page.locator(".done.completed").count() == 1
    assert page.locator("#plan-steps .step.completed").count() == 3
    assert page.locator(".msg.assistant").count() >= 1
    # The title the agent set shows in the list and the header.
    page.wait_for_function(
        "document.querySelector('.session-item.current .session-name')"
        ".textContent.startsWith('Set things up')"
    )
    web.shot("chat")

    # Views: the shell as the agent left it, and a file of the workspace.
    page.get_by_role("tab", name="Shell").click()
    page.wait_for_function("document.getElementById('shell-output').textContent.includes('web-42')")
    web.shot("shell")
    page.get_by_role("tab", name="Files").click()
    page.get_by_label("File path").fill("notes/plan.txt")
    page.get_by_role("button", name="Open").click()
    page.wait_for_function("document.getElementById('viewer-content').textContent === 'ship the web client'")

    # Sessions survive a reload; events are shown once each.
    page.reload()
    page.get_by_role("tab", name="Chat").wait_for()
    web.wait_done()
    seqs = page.evaluate("window.riadex.seqs")
    assert seqs == list(range(1, _server_seqs(stack, _token(web), sid) + 1))
    assert page.locator("article.tool.shell").count() == 1

    # A phone-width look at the same session.
    page.set_viewport_size(PHONE)
    page.wait_for_function("document.getElementById('sidebar').getBoundingClientRect().right <= 0")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    web.shot("chat-phone")
    page.get_by_role("button", name="Show sessions").click()
    page.wait_for_function("getComputedStyle(document.getElementById('sidebar')).transform === 'none'")
    web.shot("sessions-phone")
    page.set_viewport_size(LAPTOP)

    # Replies are Markdown, sanitized: a message with no directive is echoed back by the scripted model.
    page.get_by_role("tab", name="Chat").click()
    web.send(
        'Plain **bold** and `code` <a href="javascript:window.pwned=1">x</a><script>window.pwned=2</script>'
    )
    web.wait_done(2)
    reply = page.locator(".msg.assistant .bubble").last
    assert reply.locator("strong").inner_text() == "bold"
    assert reply.locator("code").inner_text() == "code"
    assert reply.locator("script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert page.locator('.msg.assistant a[href^="javascript"]').count() == 0

    # Every control has an accessible name.
    unnamed = page.evaluate(UNNAMED_CONTROLS)
    assert unnamed == [], unnamed

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Your name").wait_for()
    assert web.errors == []


def test_question_answered_in_the_page_and_stop_cancels(web: Page) -> None:
    page = web.page
    web.sign_in("Hopper")
    web.new_session()
    web.send("!ask Which colour should it be?\n!shell echo painted")
    answer = page.get_by_label("Answer: Which colour should it be?")
    answer.wait_for()
    page.wait_for_function("document.getElementById('session-status').textContent === 'waiting'")
    web.shot("question")
    answer.fill("teal")
    answer.press("Enter")
    web.wait_done()
    assert "painted" in page.locator("article.tool.shell").inner_text()
    assert page.locator(".msg.user").last.inner_text() == "teal"
    assert page.locator(".done.completed").count() == 1

    web.send("!sleep 30")
    page.locator("article.tool.shell.running").wait_for()
    stop = page.get_by_role("button", name="Stop")
    page.wait_for_function("!document.getElementById('stop').disabled")
    stop.click()
    web.wait_done(2)
    assert page.locator(".done.cancelled").count() == 1
    assert page.locator("#session-status").inner_text() == "idle"
    web.shot("cancelled")
    assert web.errors == []


def test_reload_mid_run_shows_every_event_once(web: Page, stack: Stack) -> None:
    page = web.page
    web.sign_in("Lovelace")
    sid = web.new_session()
    web.send("!sleep 4\n!shell echo after-the-reload")
    page.locator("article.tool.shell.running").wait_for()
    page.reload()
    web.wait_done()
    seqs = page.evaluate("window.riadex.seqs")
    assert seqs == list(range(1, _server_seqs(stack, _token(web), sid) + 1))
    assert page.locator("article.tool.shell").count() == 2
    assert page.get_by_text("after-the-reload", exact=False).count() >= 1
    assert page.locator(".done").count() == 1
    assert web.errors == []


def test_upload_then_read_it_and_download_it(web: Page, tmp_path: Path) -> None:
    page = web.page
    web.sign_in("Turing")
    web.new_session()
    source = tmp_path / "scores.csv"
    source.write_text("name,score\nada,42\n")
    page.get_by_role("tab", name="Files").click()
    page.locator("#file-input").set_input_files(str(source))
    page.get_by_text("Uploaded scores.csv to").wait_for()
    item = page.locator("#upload-list li", has_text="scores.csv")
    assert "uploads/scores.csv" in item.inner_text()
    web.shot("files")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download scores.csv").click()
    saved = tmp_path / "back.csv"
    download.value.save_as(saved)
    assert saved.read_text() == source.read_text()
    # Dropped files upload too.
    page.evaluate(DROP_FILE, ["dropped.md", "# dropped in"])
    page.get_by_text("Uploaded dropped.md to").wait_for()
    assert page.locator("#upload-list li").count() == 2

    page.get_by_role("tab", name="Chat").click()
    web.send("!read uploads/scores.csv")
    web.wait_done()
    assert "ada,42" in page.locator("article.tool.file").inner_text()
    assert web.errors == []


def test_sessions_are_listed_newest_first_and_deleted(web: Page) -> None:
    page = web.page
    web.sign_in("Hamilton")
    first = web.new_session()
    second = web.new_session()
    ids = page.eval_on_selector_all(".session-item", "items => items.map(i => i.dataset.sid)")
    assert ids == [second, first]
    page.reload()
    page.locator(f'.session-item[data-sid="{second}"].current').wait_for()
    page.get_by_role("button", name="Delete session New session").first.click()
    page.wait_for_function("document.querySelectorAll('.session-item').length === 1")
    page.reload()
    page.locator(f'.session-item[data-sid="{first}"]').wait_for()
    remaining = page.eval_on_selector_all(".session-item", "items => items.map(i => i.dataset.sid)")
    assert remaining == [first]
    assert web.errors == []


TAKE_OVER = "Take over (pause the agent, send my mouse and keyboard)"


def test_take_over_pauses_the_run_and_hand_back_lets_it_go_on(web: Page, stack: Stack) -> None:
    page = web.page
    web.sign_in("Engelbart")
    sid = web.new_session()
    web.send("!sleep 3\n!shell echo after-the-takeover")
    page.locator("article.tool.shell.running").wait_for()
    page.get_by_role("tab", name="Browser").click()
    page.get_by_label(TAKE_OVER).check()
    page.get_by_label("Note for the agent").wait_for()
    page.get_by_role("tab", name="Chat").click()
    # The run pauses at its next step: the page shows it from the `wait` event.
    page.locator(".card.paused", has_text="you have control of the browser").wait_for()
    page.wait_for_function("document.getElementById('session-status').textContent === 'waiting'")
    assert page.locator("article.tool.shell").count() == 1
    web.shot("taken-over")
    web.send("carry on")
    page.get_by_text("hand it back first").wait_for()  # a message waits for the hand-back (409)
    page.get_by_role("tab", name="Browser").click()
    page.get_by_label("Note for the agent").fill("closed the cookie banner")
    page.get_by_role("button", name="Hand back").click()
    page.get_by_role("tab", name="Chat").click()
    web.wait_done()
    assert not page.get_by_label(TAKE_OVER).is_checked()
    assert page.get_by_text("You handed the browser back: “closed the cookie banner”").count() == 1
    assert "after-the-takeover" in page.locator("article.tool.shell").last.inner_text()
    assert page.locator(".done.completed").count() == 1
    assert page.locator(".card.paused.closed").count() == 1
    events = httpx.get(
        f"{stack.base}/api/v1/sessions/{sid}", headers={"Authorization": f"Bearer {_token(web)}"}
    ).json()["data"]["events"]
    assert [e["data"]["status"] for e in events if e["type"] == "takeover"] == ["started", "ended"]
    assert [e["data"].get("reason") for e in events if e["type"] == "wait"] == ["takeover"]
    assert [e for e in web.errors if "409" not in e] == []  # the refused message's 409 is logged


LIT_PIXELS = """() => {
  const c = document.querySelector('#vnc-screen canvas');
  if (!c || !c.width || !c.height) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lit = 0;
  for (let i = 0; i < d.length; i += 4 * 97) if (d[i] + d[i + 1] + d[i + 2] > 600) lit++;
  return lit > 50;
}"""


def test_live_browser_view_only_then_take_over(browser: Any, tmp_path: Path) -> None:
    if not (shutil.which("Xvfb") and shutil.which("x11vnc")):
        pytest.skip("the live view needs Xvfb and x11vnc: `make system-deps` (apt-get install xvfb x11vnc)")
    if not (ROOT / "web" / "node_modules" / "@novnc" / "novnc" / "core" / "rfb.js").is_file():
        pytest.skip("noVNC is not installed: `make install` runs `npm ci` in web/ (npm: `make system-deps`)")
    with running_stack(tmp_path, SANDBOX_VNC="1") as started:
        web = Page(browser, Stack(base=started.url, process=started.process))
        try:
            page = web.page
            web.sign_in("Hedy")
            web.new_session()
            page_html = "<title>Live page</title><h1 style='font-size:64px'>Riadex live view</h1>"
            web.send(f"!browse data:text/html,{page_html}")
            web.wait_done()
            assert "Live page" in page.locator("article.tool.browser").inner_text()
            page.get_by_role("tab", name="Browser").click()
            page.get_by_role("button", name="Connect").click()
            page.wait_for_function("document.getElementById('vnc-status').textContent === 'Live (view only)'")
            canvas = page.locator("#vnc-screen canvas")
            canvas.wait_for()
            # Frames arrive: the sandbox's screen (its browser showing the page) is drawn, not left blank.
            page.wait_for_function(LIT_PIXELS)
            assert page.evaluate("window.riadex.state.rfb.viewOnly") is True
            web.shot("browser-view-only")
            # The mouse and keyboard go to the sandbox only once the server has it taken over.
            page.get_by_label(TAKE_OVER).check()
            page.wait_for_function("window.riadex.state.rfb.viewOnly === false")
            assert page.locator("#vnc-status").inner_text() == "Live (you have control)"
            page.get_by_label(TAKE_OVER).uncheck()
            page.wait_for_function("window.riadex.state.rfb.viewOnly === true")
            assert page.get_by_text("You handed the browser back.").count() == 1
            assert web.errors == []
        finally:
            web.close()

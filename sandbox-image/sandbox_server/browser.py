"""One Chromium per sandbox, driven by Playwright, started on first use and restarted if it died.

Actions are serialized (one page, one agent); `stop` is the exception: it cancels the action in flight
and tells Chromium itself to stop (CDP `Page.stopLoading`, and `Runtime.terminateExecution` for a
script), because cancelling only the Python side would leave a hung load or a busy loop running.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from sandbox_server.config import Config
from sandbox_server.errors import ToolError

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, CDPSession, Page, Playwright

log = logging.getLogger("sandbox_server.browser")
T = TypeVar("T")

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

INTERACTIVE = ", ".join(
    [
        "a[href]",
        "button",
        "input",
        "textarea",
        "select",
        "summary",
        "[role=button]",
        "[role=link]",
        "[role=checkbox]",
        "[role=tab]",
        "[role=menuitem]",
        "[role=option]",
        "[onclick]",
        "[contenteditable='']",
        "[contenteditable=true]",
    ]
)

# Indexes the visible interactive elements (data-riadex-index) so later calls can address them.
SNAPSHOT_JS = """
(selector) => {
  for (const el of document.querySelectorAll('[data-riadex-index]')) el.removeAttribute('data-riadex-index');
  const elements = [];
  for (const el of document.querySelectorAll(selector)) {
    if (elements.length >= 500) break;
    if (el.tagName === 'INPUT' && el.type === 'hidden') continue;
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    if (r.width <= 0 || r.height <= 0 || st.visibility === 'hidden' || st.display === 'none') continue;
    const index = elements.length;
    el.setAttribute('data-riadex-index', String(index));
    const value = (el.tagName === 'INPUT' && el.type === 'password') ? '' : (el.value || '');
    const label = el.innerText || value || el.placeholder || el.getAttribute('aria-label')
      || el.title || '';
    const text = label.trim().replace(/\\s+/g, ' ').slice(0, 100);
    const item = {index, tag: el.tagName.toLowerCase(), text};
    const role = el.getAttribute('role');
    if (role) item.role = role;
    if (el.tagName === 'INPUT') item.type = el.type;
    elements.push(item);
  }
  return {text: document.body ? document.body.innerText : '', elements};
}
"""

# Before an action: notes in the page whether the action opens a new tab (a followed link or a form
# with a target other than the page itself, window.open); TAB_OPENED_JS reads the note afterwards. The
# listeners are on window, so they see an event after the page's own handlers (defaultPrevented).
ARM_TAB_JS = """
() => {
  const note = (window.__riadexTab = window.__riadexTab || {opened: false, armed: false});
  note.opened = false;
  if (note.armed) return;
  note.armed = true;
  const elsewhere = (target) => !!target && !['_self', '_parent', '_top'].includes(target.toLowerCase());
  const open = window.open;
  window.open = function (...args) {
    note.opened = true;
    return open.apply(this, args);
  };
  window.addEventListener('click', (e) => {
    const link = e.target instanceof Element ? e.target.closest('a[href], area[href]') : null;
    if (link && !e.defaultPrevented && elsewhere(link.target)) note.opened = true;
  });
  window.addEventListener('submit', (e) => {
    const form = e.target;
    if (!e.defaultPrevented && elsewhere((e.submitter && e.submitter.formTarget) || form.target)) {
      note.opened = true;
    }
  });
}
"""
TAB_OPENED_JS = "() => !!(window.__riadexTab && window.__riadexTab.opened)"
NEW_TAB_TIMEOUT_S = 10.0

# Runs statements or an expression (indirect eval gives the completion value), awaits promises, and
# returns something JSON-able.
EXEC_JS = """
async (code) => {
  const value = await (0, eval)(code);
  if (value === undefined) return null;
  try {
    const json = JSON.stringify(value);
    return json === undefined ? String(value) : JSON.parse(json);
  } catch (e) {
    return String(value);
  }
}
"""


class Browser:
    def __init__(self, config: Config, display: str | None) -> None:
        self.config = config
        self.display = display
        self._playwright: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._cdp: CDPSession | None = None
        self._user_data: str | None = None
        self._lock = asyncio.Lock()
        self._current: asyncio.Task[Any] | None = None
        self._current_is_script = False
        self._stopped: asyncio.Task[Any] | None = None
        self._adopted = asyncio.Event()
        """Set when a tab the page opened has become the current page."""
        self.console: deque[dict[str, str]] = deque(maxlen=1000)

    @property
    def running(self) -> bool:
        return self._context is not None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def _launch(self) -> None:
        try:
            from playwright.async_api import async_playwright
        except ImportError as exc:  # the image was built WITH_BROWSER=0
            raise ToolError(503, "browser_disabled", "playwright is not installed in this sandbox") from exc
        if not os.path.exists(self.config.chromium):  # noqa: ASYNC240 - one stat, once
            raise ToolError(
                503, "browser_disabled", f"the browser is unavailable: no Chromium at {self.config.chromium}"
            )
        headless = self.display is None
        width, height = self.config.screen_size
        args = list(CHROMIUM_FLAGS)
        env: dict[str, str | float | bool] = {
            k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")
        }
        if not headless:
            args += ["--window-position=0,0", f"--window-size={width},{height}", "--start-maximized"]
            env["DISPLAY"] = self.display or ""
        self._user_data = tempfile.mkdtemp(prefix="riadex-chromium-")
        self._playwright = await async_playwright().start()
        try:
            self._context = await self._playwright.chromium.launch_persistent_context(
                self._user_data,
                executable_path=self.config.chromium,
                headless=headless,
                args=args,
                env=env,
                no_viewport=not headless,
                viewport={"width": 1280, "height": 720} if headless else None,
            )
        except Exception as exc:
            await self.close()
            raise ToolError(502, "browser_error", f"Chromium did not start: {_first_line(exc)}") from exc
        self._context.on("close", lambda _: self._forget())
        self._context.on("page", self._adopt)
        page = self._context.pages[0] if self._context.pages else await self._context.new_page()
        await self._use(page)

    def _forget(self) -> None:
        self._context = None
        self._page = None
        self._cdp = None

    def _adopt(self, page: Page) -> None:
        """A tab opened by a click (target=_blank, window.open) becomes the current page."""

        async def use() -> None:
            await self._use(page)
            self._adopted.set()

        asyncio.get_running_loop().create_task(use())

    async def _use(self, page: Page) -> None:
        if self._page is page:
            return
        self._page = page
        self.console.clear()
        page.on("console", lambda msg: self.console.append({"type": msg.type, "text": msg.text}))
        page.on("pageerror", lambda err: self.console.append({"type": "pageerror", "text": str(err)}))
        self._cdp = None
        assert self._context is not None
        with contextlib.suppress(Exception):
            self._cdp = await self._context.new_cdp_session(page)

    async def _ensure_page(self) -> Page:
        if self._context is None:
            await self.close()
            await self._launch()
        assert self._context is not None
        if self._page is None or self._page.is_closed():
            pages = [p for p in self._context.pages if not p.is_closed()]
            await self._use(pages[-1] if pages else await self._context.new_page())
        assert self._page is not None
        return self._page

    async def close(self) -> None:
        context, playwright = self._context, self._playwright
        self._forget()
        self._playwright = None
        if context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 10)
        if playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(playwright.stop(), 10)
        if self._user_data:
            shutil.rmtree(self._user_data, ignore_errors=True)
            self._user_data = None

    # -- actions -----------------------------------------------------------------------------------

    async def run(
        self, action: Callable[[Page], Coroutine[Any, Any, T]], limit_s: float, script: bool = False
    ) -> T:
        """Run one action on the current page, mapping Playwright's failures to the API's codes."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        async with self._lock:
            page = await self._ensure_page()
            page.set_default_timeout(limit_s * 1000)
            page.set_default_navigation_timeout(limit_s * 1000)
            task: asyncio.Task[T] = asyncio.create_task(action(page))
            self._current, self._current_is_script = task, script
            try:
                return await asyncio.wait_for(asyncio.shield(task), limit_s + 5)
            except asyncio.CancelledError:
                if self._stopped is task and not _current_task_cancelling():
                    raise ToolError(409, "cancelled", "the browser action was stopped") from None
                task.cancel()
                raise
            except (TimeoutError, PlaywrightTimeout) as exc:
                task.cancel()
                await self._halt(script)
                raise ToolError(
                    504, "browser_timeout", f"browser action timed out after {limit_s:g} s"
                ) from exc
            except ToolError:
                raise
            except PlaywrightError as exc:
                if self._stopped is task:
                    raise ToolError(409, "cancelled", "the browser action was stopped") from None
                if script and "has been closed" not in str(exc):
                    raise ToolError(400, "js_error", _first_line(exc)) from exc
                raise ToolError(502, "browser_error", _first_line(exc)) from exc
            finally:
                self._current = None
                self._stopped = None

    async def stop(self) -> bool:
        task = self._current
        if task is None or task.done():
            return False
        self._stopped = task
        task.cancel()
        await self._halt(self._current_is_script)
        return True

    async def _halt(self, script: bool) -> None:
        """Stop what Chromium itself is doing for the page: a pending load, and a running script."""
        cdp = self._cdp
        if cdp is None:
            return
        commands = ["Page.stopLoading"] + (["Runtime.terminateExecution"] if script else [])
        for command in commands:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(cdp.send(command), 2)

    async def snapshot(self, page: Page, screenshot: bool = False, full_page: bool = False) -> dict[str, Any]:
        from playwright.async_api import Error as PlaywrightError

        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state("domcontentloaded", timeout=5000)
        state: dict[str, Any] = {"text": "", "elements": []}
        for attempt in range(3):
            try:
                state = await page.evaluate(SNAPSHOT_JS, INTERACTIVE)
                break
            except PlaywrightError:
                if attempt == 2:
                    raise
                # "Execution context was destroyed": the page navigated under us; let it settle.
                with contextlib.suppress(PlaywrightError):
                    await page.wait_for_load_state("load", timeout=5000)
        cap = self.config.max_output
        text = state.get("text") or ""
        result: dict[str, Any] = {
            "url": page.url,
            "title": await page.title(),
            "text": text
            if len(text) <= cap
            else text[:cap] + f"\n[... {len(text) - cap} characters truncated ...]",
            "elements": state.get("elements") or [],
        }
        if screenshot:
            png = await page.screenshot(type="png", full_page=full_page)
            result["screenshot_png_b64"] = base64.b64encode(png).decode()
        return result

    async def element(self, page: Page, index: int) -> Any:
        locator = page.locator(f'[data-riadex-index="{int(index)}"]')
        if await locator.count() == 0:
            raise ToolError(
                404, "not_found", f"no element with index {index}; call /browser/view for fresh indexes"
            )
        return locator.first

    async def expect_tab(self, page: Page) -> None:
        """Before an action: note whether it opens a new tab (settle then waits for that tab)."""
        from playwright.async_api import Error as PlaywrightError

        self._adopted.clear()
        with contextlib.suppress(PlaywrightError):
            await page.evaluate(ARM_TAB_JS)

    async def settle(self, page: Page) -> None:
        """After an action: the tab it opened has become the current page (Playwright's context `page`
        event, adopted), and the current page has loaded. Playwright's own actions already wait for a
        navigation they start in the same page to begin."""
        from playwright.async_api import Error as PlaywrightError

        opened = False
        with contextlib.suppress(PlaywrightError):  # the page navigated away: no tab was opened
            opened = bool(await page.evaluate(TAB_OPENED_JS))
        if opened:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._adopted.wait(), NEW_TAB_TIMEOUT_S)
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state("load", timeout=5000)
        if self._page is not None and self._page is not page:
            with contextlib.suppress(PlaywrightError):
                await self._page.wait_for_load_state("load", timeout=5000)

    @property
    def page(self) -> Page | None:
        return self._page


def _current_task_cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def _first_line(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return message.strip().splitlines()[0][:500] if message.strip() else type(exc).__name__

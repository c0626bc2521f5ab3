"""The ASGI app: routes are thin; the work is in shell.py, files.py, browser.py and vnc.py."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, StreamingResponse
from starlette.websockets import WebSocket

from sandbox_server import __version__, files, identity, paths, workspace
from sandbox_server.activity import Activity
from sandbox_server.auth import BearerAuth, Credentials, deny_websocket, token_digest
from sandbox_server.browser import Browser
from sandbox_server.config import Config
from sandbox_server.display import VirtualDisplay
from sandbox_server.errors import EXCEPTION_HANDLERS, ToolError
from sandbox_server.routing import Routes, body_of, query_flag, query_int, query_text
from sandbox_server.schemas import (
    BrowserAction,
    Claim,
    Click,
    ConsoleExec,
    ConsoleView,
    FileFind,
    FileRead,
    FileReplace,
    FileSearch,
    FileWrite,
    Input,
    MoveMouse,
    Navigate,
    PressKey,
    Screenshot,
    ScrollDown,
    ScrollUp,
    SelectOption,
    ShellExec,
    ShellRef,
    ShellWait,
    ShellWrite,
)
from sandbox_server.shell import ShellManager
from sandbox_server.vnc import bridge

if TYPE_CHECKING:
    from playwright.async_api import Page

log = logging.getLogger("sandbox_server")


def ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "data": data}


@dataclass
class Sandbox:
    """Everything one server owns; closed in reverse on shutdown."""

    config: Config
    activity: Activity = field(default_factory=Activity)
    credentials: Credentials = field(init=False)
    shells: ShellManager = field(init=False)
    display: VirtualDisplay | None = None
    browser: Browser | None = None

    def __post_init__(self) -> None:
        self.credentials = Credentials(self.config.secret_digest, self.config.pool_digest)
        self.shells = ShellManager(self.config.workspace, self.config.max_output, run_as=self.config.run_as)

    def path(self, raw: str, allow_outside: bool) -> Path:
        return paths.resolve(self.config.workspace, raw, allow_outside)

    def need_browser(self) -> Browser:
        if self.browser is None:
            raise ToolError(
                503, "browser_disabled", "the browser is disabled in this sandbox (SANDBOX_BROWSER=0)"
            )
        return self.browser

    async def open(self) -> None:
        self.config.workspace.mkdir(parents=True, exist_ok=True)
        if self.config.vnc:
            self.display = VirtualDisplay(self.config)
            await run_in_threadpool(self.display.start)
        if self.config.browser:
            self.browser = Browser(self.config, self.display.display if self.display else None)

    async def close(self) -> None:
        await self.shells.close()
        if self.browser is not None:
            await self.browser.close()
        if self.display is not None:
            await run_in_threadpool(self.display.stop)


def create_app(config: Config) -> Starlette:
    sandbox = Sandbox(config)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await sandbox.open()
        try:
            yield
        finally:
            await sandbox.close()

    routes = Routes()
    _health_routes(routes, sandbox)
    _shell_routes(routes, sandbox)
    _file_routes(routes, sandbox)
    _browser_routes(routes, sandbox)
    _vnc_route(routes, sandbox)
    _workspace_routes(routes, sandbox)
    app = Starlette(routes=routes.routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.sandbox = sandbox
    app.add_middleware(BearerAuth, credentials=sandbox.credentials, activity=sandbox.activity)
    return app


def _health_routes(routes: Routes, sb: Sandbox) -> None:
    @routes.get("/health")
    async def health(_: Request) -> dict[str, Any]:
        return ok(
            {
                "status": "ok",
                "version": __version__,
                "uptime_s": round(sb.activity.uptime_s(), 3),
                "idle_s": round(sb.activity.idle_s(), 3),
                "workspace": str(sb.config.workspace),
                "browser": sb.browser is not None,
                "browser_running": sb.browser is not None and sb.browser.running,
                "vnc": sb.display is not None,
                "shell_sessions": len(sb.shells.sessions),
            }
        )

    @routes.post("/claim")
    async def claim(request: Request) -> dict[str, Any]:
        """A pooled server becomes a session's: its secret in, the pool token out (auth.py)."""
        body = await body_of(request, Claim)
        presented = token_digest(request.scope) or b""
        if not sb.credentials.claim(presented, bytes.fromhex(body.secret_sha256)):
            raise ToolError(409, "already_claimed", "this sandbox already belongs to a session")
        log.info("claimed by a session")
        return ok({"claimed": True})


def _shell_routes(routes: Routes, sb: Sandbox) -> None:
    @routes.post("/shell/exec", ShellExec)
    async def shell_exec(body: ShellExec) -> dict[str, Any]:
        session = sb.shells.get_or_create(body.session_id)
        exec_dir = sb.path(body.exec_dir, body.allow_outside) if body.exec_dir else None
        await session.start(body.command, exec_dir)
        if body.wait:
            await session.wait(body.timeout)
        return ok(session.result())

    @routes.post("/shell/view", ShellRef)
    async def shell_view(body: ShellRef) -> dict[str, Any]:
        return ok(sb.shells.get(body.session_id).view())

    @routes.post("/shell/wait", ShellWait)
    async def shell_wait(body: ShellWait) -> dict[str, Any]:
        session = sb.shells.get(body.session_id)
        await session.wait(body.timeout)
        return ok(session.result())

    @routes.post("/shell/write", ShellWrite)
    async def shell_write(body: ShellWrite) -> dict[str, Any]:
        session = sb.shells.get(body.session_id)
        await session.write(body.input + ("\n" if body.press_enter else ""))
        await session.wait(0.1)
        return ok(session.result())

    @routes.post("/shell/kill", ShellRef)
    async def shell_kill(body: ShellRef) -> dict[str, Any]:
        session = sb.shells.get(body.session_id)
        await session.kill()
        result = session.result()
        return ok({k: result[k] for k in ("session_id", "status", "exit_code")})


def _file_routes(routes: Routes, sb: Sandbox) -> None:
    cap = sb.config.max_output

    @routes.post("/file/read", FileRead)
    def file_read(body: FileRead) -> dict[str, Any]:
        path = sb.path(body.file, body.allow_outside)
        return ok(files.read(path, body.start_line, body.end_line, body.sudo, cap))

    @routes.post("/file/write", FileWrite)
    def file_write(body: FileWrite) -> dict[str, Any]:
        path = sb.path(body.file, body.allow_outside)
        created = [*identity.missing_parents(path), path]
        result = files.write(path, body.content, body.append, body.leading_newline, body.trailing_newline)
        identity.hand_over(created, sb.config.run_as, sb.config.workspace)
        return ok(result)

    @routes.post("/file/replace", FileReplace)
    def file_replace(body: FileReplace) -> dict[str, Any]:
        return ok(files.replace(sb.path(body.file, body.allow_outside), body.old_str, body.new_str))

    @routes.post("/file/find", FileFind)
    def file_find(body: FileFind) -> dict[str, Any]:
        confine = None if body.allow_outside else sb.config.workspace
        return ok(files.find(sb.path(body.path, body.allow_outside), body.glob, confine))

    @routes.post("/file/search", FileSearch)
    def file_search(body: FileSearch) -> dict[str, Any]:
        if (body.file is None) == (body.path is None):
            raise ToolError(400, "invalid_input", "give exactly one of 'file' or 'path'")
        target = sb.path(body.file or body.path or "", body.allow_outside)
        confine = None if body.allow_outside else sb.config.workspace
        return ok(files.search(target, body.regex, body.glob, confine))

    @routes.post("/file/upload")
    async def file_upload(request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > sb.config.max_upload + 64 * 1024:
            raise ToolError(413, "too_large", f"upload larger than {sb.config.max_upload} bytes")
        form = await request.form(max_files=1, max_fields=10)
        try:
            upload = form.get("file")
            target = form.get("path")
            if not isinstance(upload, UploadFile):
                raise ToolError(400, "invalid_input", "multipart field 'file' (the bytes) is required")
            if not isinstance(target, str) or not target:
                raise ToolError(400, "invalid_input", "form field 'path' is required")
            allow_outside = str(form.get("allow_outside", "")).lower() in {"1", "true", "yes"}
            path = sb.path(target, allow_outside)
            if target.endswith("/") or path.is_dir():
                name = Path(upload.filename or "").name
                if not name:
                    raise ToolError(
                        400, "invalid_input", "path names a directory and the upload has no filename"
                    )
                path = sb.path(str(path / name), allow_outside)
            created = [*identity.missing_parents(path), path]
            size = await run_in_threadpool(_save_upload, upload, path, sb.config.max_upload)
            identity.hand_over(created, sb.config.run_as, sb.config.workspace)
            return ok({"file": str(path), "size": size})
        finally:
            await form.close()

    @routes.get("/file/download")
    def file_download(request: Request) -> FileResponse:
        path = sb.path(query_text(request, "file"), query_flag(request, "allow_outside"))
        with files.os_errors(path):
            if path.is_dir():
                raise ToolError(400, "not_a_file", f"{path} is a directory")
            if not path.exists():
                raise ToolError(404, "not_found", f"{path}: no such file")
            with path.open("rb"):
                pass  # permission check now, not halfway through the response
        return FileResponse(path, media_type="application/octet-stream", filename=path.name)


def _save_upload(upload: UploadFile, path: Path, limit: int) -> int:
    with files.os_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        upload.file.seek(0)
        partial = path.with_name(path.name + ".part")
        with partial.open("wb") as out:
            while chunk := upload.file.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    out.close()
                    partial.unlink(missing_ok=True)
                    raise ToolError(413, "too_large", f"upload larger than {limit} bytes")
                out.write(chunk)
        partial.replace(path)
        return size


def _browser_routes(routes: Routes, sb: Sandbox) -> None:
    async def act(body: BrowserAction, action: Any, script: bool = False, screenshot: bool = False) -> Any:
        browser = sb.need_browser()

        async def run(page: Page) -> dict[str, Any]:
            extra = None
            if action is not None:
                await browser.expect_tab(page)
                extra = await action(page)
                await browser.settle(page)
            current = browser.page or page
            state = await browser.snapshot(
                current, screenshot or body.screenshot, getattr(body, "full_page", False)
            )
            if extra is not None:
                state.update(extra)
            return state

        return ok(await browser.run(run, body.timeout, script=script))

    async def point_or_index(page: Page, body: Click) -> Any:
        if body.index is not None:
            return await sb.need_browser().element(page, body.index)
        if body.coordinate_x is None or body.coordinate_y is None:
            raise ToolError(400, "invalid_input", "give 'index' or both 'coordinate_x' and 'coordinate_y'")
        return None

    @routes.post("/browser/navigate", Navigate)
    async def navigate(body: Navigate) -> dict[str, Any]:
        async def go(page: Page) -> None:
            from playwright.async_api import Error as PlaywrightError

            try:
                await page.goto(body.url, wait_until="load")
            except PlaywrightError as exc:
                # Two aborts that loaded nothing, so the navigation is ours to repeat, once: a load
                # stopped earlier (/browser/stop) committing Chromium's error page late, and Chromium's
                # ERR_NETWORK_CHANGED when the sandbox's interfaces change under it (its network
                # namespace's uplink coming up while the browser starts).
                if not any(
                    why in str(exc) for why in ("interrupted by another navigation", "ERR_NETWORK_CHANGED")
                ):
                    raise
                await page.goto(body.url, wait_until="load")

        return await act(body, go)  # type: ignore[no-any-return]

    @routes.post("/browser/view", BrowserAction)
    async def view(body: BrowserAction) -> dict[str, Any]:
        return await act(body, None)  # type: ignore[no-any-return]

    @routes.post("/browser/screenshot", Screenshot)
    async def screenshot(body: Screenshot) -> dict[str, Any]:
        return await act(body, None, screenshot=True)  # type: ignore[no-any-return]

    @routes.post("/browser/click", Click)
    async def click(body: Click) -> dict[str, Any]:
        async def do(page: Page) -> None:
            target = await point_or_index(page, body)
            if target is not None:
                await target.click()
            else:
                x, y = _point(body)
                await page.mouse.click(x, y)

        return await act(body, do)  # type: ignore[no-any-return]

    @routes.post("/browser/input", Input)
    async def input_text(body: Input) -> dict[str, Any]:
        async def do(page: Page) -> None:
            target = await point_or_index(page, body)
            if target is not None:
                await target.fill(body.text)
                if body.press_enter:
                    await target.press("Enter")
            else:
                x, y = _point(body)
                await page.mouse.click(x, y)
                await page.keyboard.press("Control+a")
                await page.keyboard.type(body.text)
                if body.press_enter:
                    await page.keyboard.press("Enter")

        return await act(body, do)  # type: ignore[no-any-return]

    @routes.post("/browser/move_mouse", MoveMouse)
    async def move_mouse(body: MoveMouse) -> dict[str, Any]:
        async def do(page: Page) -> None:
            await page.mouse.move(body.coordinate_x, body.coordinate_y)

        return await act(body, do)  # type: ignore[no-any-return]

    @routes.post("/browser/press_key", PressKey)
    async def press_key(body: PressKey) -> dict[str, Any]:
        async def do(page: Page) -> None:
            await page.keyboard.press(body.key)

        return await act(body, do)  # type: ignore[no-any-return]

    @routes.post("/browser/select_option", SelectOption)
    async def select_option(body: SelectOption) -> dict[str, Any]:
        async def do(page: Page) -> None:
            target = await sb.need_browser().element(page, body.index)
            if isinstance(body.option, int):
                await target.select_option(index=body.option)
            else:
                await target.select_option(body.option)

        return await act(body, do)  # type: ignore[no-any-return]

    @routes.post("/browser/scroll_up", ScrollUp)
    async def scroll_up(body: ScrollUp) -> dict[str, Any]:
        async def do(page: Page) -> None:
            script = "window.scrollTo(0, 0)" if body.to_top else "window.scrollBy(0, -window.innerHeight)"
            await page.evaluate(script)

        return await act(body, do)  # type: ignore[no-any-return]

    @routes.post("/browser/scroll_down", ScrollDown)
    async def scroll_down(body: ScrollDown) -> dict[str, Any]:
        async def do(page: Page) -> None:
            script = (
                "window.scrollTo(0, document.documentElement.scrollHeight)"
                if body.to_bottom
                else "window.scrollBy(0, window.innerHeight)"
            )
            await page.evaluate(script)

        return await act(body, do)  # type: ignore[no-any-return]

    @routes.post("/browser/console_exec", ConsoleExec)
    async def console_exec(body: ConsoleExec) -> dict[str, Any]:
        from sandbox_server.browser import EXEC_JS

        async def do(page: Page) -> dict[str, Any]:
            return {"result": await page.evaluate(EXEC_JS, body.javascript)}

        return await act(body, do, script=True)  # type: ignore[no-any-return]

    @routes.post("/browser/console_view", ConsoleView)
    async def console_view(body: ConsoleView) -> dict[str, Any]:
        browser = sb.need_browser()
        logs = list(browser.console)[-body.max_lines :]
        return ok({"logs": logs})

    @routes.post("/browser/stop")
    async def stop(_: Request) -> dict[str, Any]:
        return ok({"stopped": await sb.need_browser().stop()})


def _point(body: Click) -> tuple[float, float]:
    if body.coordinate_x is None or body.coordinate_y is None:
        raise ToolError(400, "invalid_input", "give 'index' or both 'coordinate_x' and 'coordinate_y'")
    return body.coordinate_x, body.coordinate_y


def _vnc_route(routes: Routes, sb: Sandbox) -> None:
    @routes.websocket("/vnc")
    async def vnc(websocket: WebSocket) -> None:
        if sb.display is None or sb.display.rfb_port is None:
            await deny_websocket(
                websocket.scope,
                websocket.receive,
                websocket.send,
                503,
                "vnc_disabled",
                "VNC is off (SANDBOX_VNC=0)",
            )
            return
        await bridge(websocket, sb.display.rfb_port, sb.activity.touch)


def _workspace_routes(routes: Routes, sb: Sandbox) -> None:
    """The workspace as one archive, for the control plane to save and restore (workspace.py)."""

    @routes.get("/workspace/stamp")
    def workspace_stamp(_: Request) -> dict[str, Any]:
        return ok(workspace.stamp(sb.config.workspace))

    @routes.get("/workspace/archive")
    def workspace_archive(request: Request) -> StreamingResponse:
        data, made = workspace.archive(sb.config.workspace, query_int(request, "max_bytes", 1 << 62))

        def chunks() -> Any:
            with data:
                while chunk := data.read(1024 * 1024):
                    yield chunk

        headers = {"X-Workspace-Stamp": made["stamp"], "X-Workspace-Bytes": str(made["bytes"])}
        return StreamingResponse(chunks(), media_type="application/gzip", headers=headers)

    @routes.put("/workspace/archive")
    async def workspace_restore(request: Request) -> dict[str, Any]:
        with tempfile.SpooledTemporaryFile(max_size=workspace.SPOOL_BYTES) as spool:
            async for chunk in request.stream():
                spool.write(chunk)
            spool.seek(0)
            restored = await run_in_threadpool(
                workspace.restore, sb.config.workspace, spool, sb.config.run_as
            )
        return ok(restored)

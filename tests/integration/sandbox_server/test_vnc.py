"""VNC: Xvfb + x11vnc start with the server, and the /vnc WebSocket carries the RFB handshake."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.integration.sandbox_server.harness import ToolServer, call

MISSING = [tool for tool in ("Xvfb", "x11vnc") if shutil.which(tool) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {MISSING}: apt-get install xvfb x11vnc")


@pytest.fixture(scope="module")
def tool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolServer]:
    server = ToolServer(tmp_path_factory.mktemp("vnc") / "workspace", SANDBOX_VNC="1", SANDBOX_BROWSER="1")
    server.start()
    yield server
    server.stop()


def test_the_websocket_delivers_the_rfb_banner_and_carries_the_handshake(tool_server: ToolServer) -> None:
    url = tool_server.url.replace("http://", "ws://") + f"/vnc?token={tool_server.secret}"
    with connect(url, subprotocols=["binary"], open_timeout=15) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "binary"
        banner = ws.recv(timeout=15)
        assert banner == b"RFB 003.008\n"
        ws.send(b"RFB 003.008\n")
        security = ws.recv(timeout=15)
        assert isinstance(security, bytes)
        assert security[0] >= 1  # number of security types offered
        assert 1 in security[1:]  # "None": x11vnc runs -nopw, the WebSocket's token is the lock


def test_health_reports_vnc(tool_server: ToolServer) -> None:
    with tool_server.client() as client:
        assert client.get("/health").json()["data"]["vnc"] is True


@pytest.mark.skipif(
    not os.path.exists("/usr/bin/chromium") or importlib.util.find_spec("playwright") is None,
    reason="needs chromium (apt-get install chromium) and playwright (make install)",
)
def test_the_browser_renders_headful_on_the_virtual_display(tool_server: ToolServer) -> None:
    with tool_server.client() as client:
        state = call(client, "/browser/navigate", url="data:text/html,<title>on Xvfb</title><p>headful</p>")
        assert state["title"] == "on Xvfb"
        agent = call(client, "/browser/console_exec", javascript="navigator.userAgent")["result"]
        assert "Headless" not in agent
        size = call(client, "/browser/console_exec", javascript="[window.outerWidth, window.outerHeight]")
        width, height = size["result"]
        assert width >= 1270  # the window fills the 1280x1024 Xvfb screen the VNC viewer sees
        assert height >= 1014

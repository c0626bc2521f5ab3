"""The browser routes against Debian's Chromium and pages served on localhost."""

from __future__ import annotations

import base64
import importlib.util
import os
import struct
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.sandbox_server.harness import ToolServer, call, error
from tests.integration.sandbox_server.pages import Site

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="needs chromium: apt-get install chromium (make system-deps)"
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("playwright") is None,
        reason="needs playwright: pip install -r sandbox-image/requirements-browser.txt (make install)",
    ),
]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with Site() as s:
        yield s


@pytest.fixture(scope="module")
def tool_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToolServer]:
    server = ToolServer(tmp_path_factory.mktemp("browser") / "workspace", SANDBOX_BROWSER="1")
    server.start()
    yield server
    server.stop()


def element(state: dict[str, Any], text: str) -> int:
    for item in state["elements"]:
        if item["text"] == text:
            return int(item["index"])
    raise AssertionError(f"no element {text!r} in {state['elements']}")


def js(client: httpx.Client, script: str) -> Any:
    return call(client, "/browser/console_exec", javascript=script)["result"]


def test_navigate_returns_title_text_and_indexed_elements(client: httpx.Client, site: Site) -> None:
    state = call(client, "/browser/navigate", url=site.url + "/")

    assert state["url"] == site.url + "/"
    assert state["title"] == "Riadex test page"
    assert "Welcome to the test page" in state["text"]
    kinds = {(e["tag"], e["text"]) for e in state["elements"]}
    assert {
        ("a", "Second page"),
        ("button", "Greet"),
        ("input", "your name"),
        ("select", "Red Green Blue"),
    } <= kinds
    assert "Invisible" not in {e["text"] for e in state["elements"]}
    assert [e["index"] for e in state["elements"]] == list(range(len(state["elements"])))
    assert "screenshot_png_b64" not in state


def test_type_into_a_field_and_click_a_button_by_index(client: httpx.Client, site: Site) -> None:
    state = call(client, "/browser/navigate", url=site.url + "/")
    state = call(client, "/browser/input", index=element(state, "your name"), text="Ada")

    state = call(client, "/browser/click", index=element(state, "Greet"))

    assert "Hello, Ada" in state["text"]


def test_click_by_coordinates_and_press_keys(client: httpx.Client, site: Site) -> None:
    call(client, "/browser/navigate", url=site.url + "/")
    box = js(client, "const r = document.getElementById('name').getBoundingClientRect(); [r.x + 5, r.y + 5]")
    call(client, "/browser/click", coordinate_x=box[0], coordinate_y=box[1])
    for key in ("B", "o", "b", "Backspace"):
        call(client, "/browser/press_key", key=key)
    assert js(client, "document.getElementById('name').value") == "Bo"
    js(client, "document.addEventListener('mousemove', e => { window.moved = [e.clientX, e.clientY]; }); 0")
    call(client, "/browser/move_mouse", coordinate_x=10, coordinate_y=12)
    assert js(client, "window.moved") == [10, 12]


def test_input_with_enter_submits_the_form(client: httpx.Client, site: Site) -> None:
    state = call(client, "/browser/navigate", url=site.url + "/")

    state = call(client, "/browser/input", index=element(state, "search"), text="riadex", press_enter=True)

    assert state["url"] == site.url + "/echo?q=riadex"
    assert "You searched for riadex" in state["text"]


def test_links_navigate_and_new_tabs_become_current(client: httpx.Client, site: Site) -> None:
    state = call(client, "/browser/navigate", url=site.url + "/")
    state = call(client, "/browser/click", index=element(state, "Second page"))
    assert state["title"] == "Second page"

    # A new tab (a link's target, window.open) is waited for, not given a moment: the click's answer
    # is the new tab, loaded, every time.
    for opener in ("Open in new tab", "Open by script"):
        state = call(client, "/browser/navigate", url=site.url + "/")
        state = call(client, "/browser/click", index=element(state, opener))
        assert (state["url"], state["title"]) == (site.url + "/second", "Second page"), opener
        assert "You reached the second page" in state["text"]
    # A click that opens nothing stays on its page.
    state = call(client, "/browser/navigate", url=site.url + "/")
    state = call(client, "/browser/click", index=element(state, "Greet"))
    assert state["url"] == site.url + "/"


def test_select_option_by_position_value_and_label(client: httpx.Client, site: Site) -> None:
    state = call(client, "/browser/navigate", url=site.url + "/")
    select = element(state, "Red Green Blue")
    call(client, "/browser/select_option", index=select, option=2)
    assert js(client, "document.getElementById('color').value") == "b"
    call(client, "/browser/select_option", index=select, option="Green")
    assert js(client, "document.getElementById('color').value") == "g"


def test_scrolling(client: httpx.Client, site: Site) -> None:
    call(client, "/browser/navigate", url=site.url + "/")
    call(client, "/browser/scroll_down")
    one_screen = js(client, "window.scrollY")
    assert one_screen > 0
    call(client, "/browser/scroll_down", to_bottom=True)
    assert js(client, "window.scrollY") > one_screen
    call(client, "/browser/scroll_up", to_top=True)
    assert js(client, "window.scrollY") == 0


def test_screenshot_is_a_png_of_the_viewport(client: httpx.Client, site: Site) -> None:
    call(client, "/browser/navigate", url=site.url + "/")
    state = call(client, "/browser/screenshot")
    png = base64.b64decode(state["screenshot_png_b64"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (1280, 720)
    assert state["title"] == "Riadex test page"


def test_console_exec_and_console_view(client: httpx.Client, site: Site) -> None:
    call(client, "/browser/navigate", url=site.url + "/")

    assert js(client, "let a = 20; a + 22") == 42
    assert js(client, "new Promise(r => setTimeout(() => r({ok: [1, 2]}), 10))") == {"ok": [1, 2]}
    assert js(client, "console.log('from the agent')") is None
    assert error(client, "/browser/console_exec", javascript="throw new Error('boom')") == (400, "js_error")

    logs = call(client, "/browser/console_view")["logs"]
    assert {"type": "log", "text": "page-loaded"} in logs
    assert {"type": "error", "text": "an error line"} in logs
    assert {"type": "log", "text": "from the agent"} in logs


def test_errors_are_clear(client: httpx.Client, site: Site) -> None:
    call(client, "/browser/navigate", url=site.url + "/")
    assert error(client, "/browser/click", index=999) == (404, "not_found")
    assert error(client, "/browser/click") == (400, "invalid_input")
    assert error(client, "/browser/navigate", url="http://127.0.0.1:9/") == (502, "browser_error")


def run_in_thread(client: httpx.Client, path: str, **body: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def target() -> None:
        response = client.post(path, json=body)
        out.append((response.status_code, response.json()))

    thread = threading.Thread(target=target)
    thread.start()
    return thread, out


def test_stop_aborts_a_hanging_navigation(client: httpx.Client, tool_server: ToolServer, site: Site) -> None:
    call(client, "/browser/navigate", url=site.url + "/")
    with tool_server.client() as other:
        thread, out = run_in_thread(other, "/browser/navigate", url=site.url + "/hang", timeout=120)
        assert site.hang_started.wait(30)

        assert call(client, "/browser/stop") == {"stopped": True}
        thread.join(60)

    status, body = out[0]
    assert (status, body["error"]["code"]) == (409, "cancelled")
    state = call(client, "/browser/navigate", url=site.url + "/second")
    assert state["title"] == "Second page"
    assert call(client, "/browser/stop") == {"stopped": False}


def test_stop_terminates_a_busy_script_inside_chromium(
    client: httpx.Client, tool_server: ToolServer, site: Site
) -> None:
    call(client, "/browser/navigate", url=site.url + "/")
    with tool_server.client() as other:
        thread, out = run_in_thread(other, "/browser/console_exec", javascript="while (true) {}", timeout=120)
        stopped = False
        for _ in range(200):
            if call(client, "/browser/stop")["stopped"]:
                stopped = True
                break
            threading.Event().wait(0.05)
        assert stopped
        thread.join(60)

    assert out[0][0] == 409
    # Only a script really terminated inside Chromium leaves the page able to run the next one.
    assert js(client, "1 + 1") == 2


def test_health_shows_the_browser_running(client: httpx.Client, site: Site) -> None:
    call(client, "/browser/navigate", url=site.url + "/")  # this test starts Chromium if none runs yet
    health = client.get("/health").json()["data"]
    assert health["browser"] is True
    assert health["browser_running"] is True

"""What only the process backend promises: its jail keeps the host's loopback services (moto with every
table, the API itself) out of reach; without bubblewrap it fails closed; and with the jail explicitly off
it warns, and still starts from an empty environment."""

from __future__ import annotations

import http.server
import logging
import shutil
import socket
import threading
from pathlib import Path

import pytest

from riadex.adapters.sandbox.process import footprint
from riadex.adapters.sandbox.process.provider import NO_JAIL_WARNING
from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.domain import ids
from riadex.domain.errors import Unavailable
from tests.integration.sandboxes.conftest import process_sandboxes

tools = HttpToolGateway()
PROBE = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 3); print('REACHED')"


def shell(handle: object, command: str) -> str:
    result = tools.call(handle, "shell_exec", {"session_id": "t", "command": command})  # type: ignore[arg-type]
    return str(result["output"])


@pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="the jail needs bubblewrap: apt-get install bubblewrap"
)
def test_the_jail_cannot_reach_services_on_the_hosts_loopback(server_dir: Path, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    jailed = process_sandboxes(server_dir, tmp_path / "jailed")
    open_net = process_sandboxes(server_dir, tmp_path / "open", network="host")
    try:
        handle = jailed.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        seen = shell(handle, f'python3 -c "{PROBE}" {port} 2>&1 | tail -n 1')
        assert "REACHED" not in seen
        assert "Connection refused" in seen
        assert accepted == []

        # The control: with the host's network (SANDBOX_NETWORK=host) the same probe gets through.
        handle = open_net.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        assert "REACHED" in shell(handle, f'python3 -c "{PROBE}" {port} 2>&1 | tail -n 1')
    finally:
        jailed.release_all()
        open_net.release_all()
        listener.close()


def test_without_a_jail_the_server_still_starts_from_an_empty_environment(
    server_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "canary-secret-4711")
    with caplog.at_level(logging.WARNING):
        plain = process_sandboxes(server_dir, tmp_path / "plain", jail="none")
    assert [r.getMessage() for r in caplog.records] == [NO_JAIL_WARNING]  # said at start
    caplog.clear()
    try:
        with caplog.at_level(logging.WARNING):
            handle = plain.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        assert [NO_JAIL_WARNING in r.getMessage() for r in caplog.records] == [True]  # and at every acquire
        assert plain.healthy(handle)
        seen = shell(handle, "env; pwd")
        assert "canary-secret-4711" not in seen
        assert str(tmp_path / "plain") in seen  # its own workspace, on the host's filesystem
    finally:
        plain.release_all()
    assert list((tmp_path / "plain").iterdir()) == []


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="the browser needs Chromium: apt-get install chromium"
)
def test_chromium_runs_inside_the_jail(server_dir: Path, tmp_path: Path) -> None:
    page = b"<html><head><title>Jailed page</title></head><body><button>Go</button></body></html>"

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    browsing = process_sandboxes(
        server_dir, tmp_path / "browse", browser=True, network="host", memory_bytes=1024**3, pids_max=512
    )
    try:
        handle = browsing.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        state = tools.call(handle, "browser_navigate", {"url": f"http://127.0.0.1:{site.server_port}/"})
        assert state["title"] == "Jailed page"
        assert any(element["text"] == "Go" for element in state["elements"])
    finally:
        browsing.release_all()
        site.shutdown()


@pytest.mark.parametrize("jail", ["auto", "bwrap"])
def test_without_bubblewrap_the_jail_fails_closed_naming_the_package(
    server_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jail: str
) -> None:
    """No bwrap on PATH: no sandbox starts unjailed behind the user's back; the error says what to do."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    provider = process_sandboxes(server_dir, tmp_path / "nojail", jail=jail)
    with pytest.raises(Unavailable) as refused:
        provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    assert "bubblewrap" in refused.value.message
    assert "SANDBOX_JAIL=none" in refused.value.message
    assert not any((tmp_path / "nojail").glob("*/run/*"))  # nothing was started


IDLE_CEILING = 30 * footprint.MIB


@pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="an idle jailed sandbox's memory needs bubblewrap: apt-get install bubblewrap",
)
def test_an_idle_sandbox_costs_at_most_30_mib(server_dir: Path, tmp_path: Path) -> None:
    """Every process of an idle jailed sandbox (bubblewrap, the tool server and, with the internet, its
    slirp4netns uplink), summed (docs/sandboxes.md): what only it holds (USS: what releasing it frees),
    fresh and idle again after a shell command and a file write. PSS is not held to the line: it
    divides the shared pages among whatever else maps them, so it depends on the machine's other
    processes (26-28 MiB fresh in the full suite, 33 MiB with this test alone); the bench reports it."""
    network = "internet" if shutil.which("slirp4netns") else "none"
    provider = process_sandboxes(server_dir, tmp_path / "sandboxes", network=network)
    handle = provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    try:
        fresh = provider.footprint(handle)
        assert fresh is not None
        assert fresh.processes >= 3  # bubblewrap (two) and the tool server, at least
        assert fresh.uss <= IDLE_CEILING, fresh.mib()
        assert shell(handle, "echo used").strip() == "used"
        tools.call(handle, "file_write", {"file": "a.txt", "content": "x"})
        used = provider.footprint(handle)
        assert used is not None
        assert used.uss <= IDLE_CEILING, used.mib()
    finally:
        provider.release(handle)
    assert provider.footprint(handle) is None

"""What a sandbox can reach with SANDBOX_NETWORK=internet (the default), and what it cannot.

"The internet" is a server in a network namespace this test creates, at 198.51.100.2 (TEST-NET-2,
assigned only there); "the LAN" is another at 10.203.0.2, a private address assigned only there. The
host reaches both (the control). From inside the sandbox, the internet answers the shell (curl) and
the browser tool; the LAN, the host's loopback services (a stand-in for the stack's port and moto's)
and the host's own addresses do not. No packet goes anywhere but loopback and these namespaces.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riadex.adapters.sandbox.process.provider import UPLINK_TOOLS, ProcessSandboxes
from riadex.adapters.tools.gateway import HttpToolGateway
from riadex.domain import ids
from riadex.domain.sandboxes import SandboxHandle
from tests.integration.sandboxes.conftest import TEST_MEMORY_BYTES, TEST_PIDS_MAX, process_sandboxes
from tests.integration.sandboxes.netns import StandIn, missing_tools
from tests.integration.sandboxes.test_secrets import COLLECT

tools = HttpToolGateway()
REFUSED = ("Connection refused", "Failed to connect", "Couldn't connect")

_missing = [t for t in (*UPLINK_TOOLS, "bwrap", "curl") if shutil.which(t) is None] + missing_tools()
pytestmark = pytest.mark.skipif(
    bool(_missing),
    reason=f"the sandbox network test needs {', '.join(_missing)} (apt-get install slirp4netns iptables "
    "iproute2 bubblewrap curl; run as root)",
)


def shell(handle: SandboxHandle, command: str) -> str:
    result = tools.call(handle, "shell_exec", {"session_id": "t", "command": command, "timeout": 20})
    return str(result["output"])


def curl(handle: SandboxHandle, url: str) -> str:
    return shell(handle, f"curl -sS -m 5 {url} 2>&1; echo")


class HostListener:
    """A TCP service on the host that records whether anyone connected (a stand-in for moto's port)."""

    def __init__(self, host: str) -> None:
        self.socket = socket.socket()
        self.socket.bind((host, 0))
        self.socket.listen()
        self.port = self.socket.getsockname()[1]
        self.accepted: list[object] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                connection, peer = self.socket.accept()
                self.accepted.append(peer)
                connection.close()
        except OSError:
            pass

    def close(self) -> None:
        self.socket.close()


@pytest.fixture(scope="module")
def nets() -> Iterator[tuple[StandIn, StandIn]]:
    internet = StandIn.start("stand-in-internet", "i", "198.51.100.1", "198.51.100.2", 24)
    try:
        lan = StandIn.start("stand-in-lan", "l", "10.203.0.1", "10.203.0.2", 24)
    except BaseException:
        internet.stop()
        raise
    yield internet, lan
    lan.stop()
    internet.stop()


@pytest.fixture(scope="module")
def internet_sandbox(
    nets: tuple[StandIn, StandIn], server_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ProcessSandboxes, SandboxHandle]]:
    browser = shutil.which("chromium") is not None
    provider = process_sandboxes(
        server_dir,
        tmp_path_factory.mktemp("net") / "sandboxes",
        network="internet",
        browser=browser,
        memory_bytes=1024**3,
        pids_max=512,
    )
    try:
        handle = provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        yield provider, handle
    finally:
        provider.release_all()


def test_the_internet_answers_the_shell(
    nets: tuple[StandIn, StandIn], internet_sandbox: tuple[ProcessSandboxes, SandboxHandle]
) -> None:
    internet, _ = nets
    _, handle = internet_sandbox
    assert "stand-in-internet says hello" in curl(handle, internet.url)


def test_the_lan_the_hosts_loopback_and_its_own_addresses_do_not(
    nets: tuple[StandIn, StandIn], internet_sandbox: tuple[ProcessSandboxes, SandboxHandle]
) -> None:
    internet, lan = nets
    _, handle = internet_sandbox
    loopback = HostListener("127.0.0.1")
    everywhere = HostListener("0.0.0.0")
    try:
        seen = {
            "lan": curl(handle, lan.url),
            "host loopback as 127.0.0.1": curl(handle, f"http://127.0.0.1:{loopback.port}/"),
            "host loopback through slirp's gateway": curl(handle, f"http://10.0.2.2:{loopback.port}/"),
            "the host's veth address": curl(handle, f"http://{internet.host_address}:{everywhere.port}/"),
            "the host's 0.0.0.0 service via the gateway": curl(handle, f"http://10.0.2.2:{everywhere.port}/"),
        }
        for what, output in seen.items():
            assert "says hello" not in output, what
            assert any(marker in output for marker in REFUSED), (what, output)
        assert loopback.accepted == []
        assert everywhere.accepted == []
        lan.wait_reachable()  # the control: the LAN server is up, the host reaches it
    finally:
        loopback.close()
        everywhere.close()


def test_the_jail_cannot_change_its_rules(internet_sandbox: tuple[ProcessSandboxes, SandboxHandle]) -> None:
    _, handle = internet_sandbox
    out = shell(handle, "iptables -F OUTPUT 2>&1; echo rc=$?; ip link set tap0 down 2>&1; echo rc=$?")
    assert "rc=0" not in out


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="the browser needs Chromium: apt-get install chromium"
)
def test_the_internet_answers_the_browser_tool(
    nets: tuple[StandIn, StandIn], internet_sandbox: tuple[ProcessSandboxes, SandboxHandle]
) -> None:
    internet, _ = nets
    _, handle = internet_sandbox
    state = tools.call(handle, "browser_navigate", {"url": internet.url})
    assert state["title"] == "stand-in-internet"


def test_an_allowed_lan_address_and_host_port_are_reachable(
    nets: tuple[StandIn, StandIn], server_dir: Path, tmp_path: Path
) -> None:
    _, lan = nets
    loopback = HostListener("127.0.0.1")
    other = HostListener("127.0.0.1")
    provider = process_sandboxes(
        server_dir,
        tmp_path / "sandboxes",
        network="internet",
        allow_hosts=f"{lan.address}:{lan.port},host:{loopback.port}",
    )
    try:
        handle = provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        assert "stand-in-lan says hello" in curl(handle, lan.url)
        curl(handle, f"http://10.0.2.2:{loopback.port}/")
        assert len(loopback.accepted) == 1
        assert any(marker in curl(handle, f"http://10.0.2.2:{other.port}/") for marker in REFUSED)
        assert other.accepted == []
    finally:
        provider.release_all()
        loopback.close()
        other.close()


def test_none_has_no_network(nets: tuple[StandIn, StandIn], server_dir: Path, tmp_path: Path) -> None:
    internet, _ = nets
    provider = process_sandboxes(server_dir, tmp_path / "sandboxes", network="none")
    try:
        handle = provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
        out = curl(handle, internet.url)
        assert "says hello" not in out
        assert "unreachable" in out.lower() or any(marker in out for marker in REFUSED), out
    finally:
        provider.release_all()


# --- the docker backend (podman): the same reach, through slirp4netns and the image's entry.sh -------


@pytest.fixture(scope="module")
def docker_sandbox(
    nets: tuple[StandIn, StandIn], podman_image: tuple[str, str]
) -> Iterator[tuple[Any, SandboxHandle]]:
    import docker

    from riadex.adapters.sandbox.docker.provider import DockerSandboxes

    docker_host, image = podman_image
    provider = DockerSandboxes(
        client=docker.DockerClient(base_url=docker_host, timeout=60),
        image=image,
        memory_bytes=TEST_MEMORY_BYTES,
        pids_max=TEST_PIDS_MAX,
        network="internet",
    )
    try:
        yield provider, provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
    finally:
        provider.release_all()


def test_docker_the_internet_answers_and_the_lan_and_host_do_not(
    nets: tuple[StandIn, StandIn], docker_sandbox: tuple[Any, SandboxHandle]
) -> None:
    internet, lan = nets
    _, handle = docker_sandbox
    assert "stand-in-internet says hello" in curl(handle, internet.url)
    loopback = HostListener("127.0.0.1")
    everywhere = HostListener("0.0.0.0")
    try:
        seen = {
            "lan": curl(handle, lan.url),
            "host loopback through slirp's gateway": curl(handle, f"http://10.0.2.2:{loopback.port}/"),
            "the host's veth address": curl(handle, f"http://{internet.host_address}:{everywhere.port}/"),
        }
        for what, output in seen.items():
            assert "says hello" not in output, what
            assert any(marker in output for marker in REFUSED), (what, output)
        assert loopback.accepted == []
        assert everywhere.accepted == []
        assert "rc=0" not in shell(handle, "iptables -F OUTPUT 2>&1; echo rc=$?")
    finally:
        loopback.close()
        everywhere.close()


def test_docker_the_agent_reads_no_secret(docker_sandbox: tuple[Any, SandboxHandle]) -> None:
    _, handle = docker_sandbox
    tools.call(handle, "file_write", {"file": "notes/hello.txt", "content": "hi"})
    assert "collected" in shell(handle, COLLECT)
    seen, start = "", 0
    while True:
        page = tools.call(
            handle, "file_read", {"file": "seen.txt", "start_line": start, "end_line": start + 200}
        )
        seen += page["content"]
        start += 200
        if start >= page["total_lines"]:
            break
    assert "uid=1000" in seen
    assert "sandbox_server" in seen
    assert "Permission denied" in seen
    assert handle.secret not in seen
    assert "SANDBOX_SECRET" not in seen  # not even its digest: the server's environment is not readable
    out = shell(handle, "chmod +x notes/hello.txt && stat -c %u notes/hello.txt && rm -r notes")
    assert "1000" in out

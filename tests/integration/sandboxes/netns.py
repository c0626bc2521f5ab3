"""Network namespaces a test creates and owns: stand-ins for "the internet" and "the LAN".

Each is a process started in a new network namespace (`unshare --net`, no named namespace, nothing
mounted), linked to the host by a veth pair the test addresses itself, serving HTTP on one port. When
the process ends, the namespace and both veth ends go with it. Traffic only ever goes to these
addresses, which exist nowhere but here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

SERVER = r"""
import http.server, sys
name = sys.argv[1]
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"<html><head><title>{name}</title></head><body><p>{name} says hello</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Page)
print("READY", flush=True)
server.serve_forever()
"""

TOOLS = ("unshare", "nsenter", "ip")


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root (to create network namespaces)")
    return missing


def _ip(*args: str, pid: int | None = None) -> None:
    prefix = ["nsenter", "-t", str(pid), "-n"] if pid is not None else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class StandIn:
    """One namespace: `address` serves `name` over HTTP on `port`; the host side is `host_address`."""

    name: str
    address: str
    host_address: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"

    @classmethod
    def start(
        cls, name: str, tag: str, host_address: str, address: str, prefix: int, port: int = 8081
    ) -> StandIn:
        process = subprocess.Popen(
            ["unshare", "--net", "--", sys.executable, "-c", SERVER, name, str(port)],
            stdout=subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == b"READY"
            outer, inner = f"rdx{tag}{os.getpid() % 100000}", f"rdx{tag}in"
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", str(process.pid))
            _ip("addr", "add", f"{host_address}/{prefix}", "dev", outer)
            _ip("link", "set", outer, "up")
            _ip("addr", "add", f"{address}/{prefix}", "dev", inner, pid=process.pid)
            _ip("link", "set", inner, "up", pid=process.pid)
            _ip("link", "set", "lo", "up", pid=process.pid)
            net = cls(name=name, address=address, host_address=host_address, port=port, process=process)
            net.wait_reachable()
        except BaseException:
            process.kill()
            process.wait()
            raise
        return net

    def wait_reachable(self, timeout: float = 10.0) -> None:
        """From the host (the control: the address is there, the server answers)."""
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run(
                ["curl", "-sS", "-m", "2", self.url], capture_output=True, text=True, check=False
            )
            if self.name in done.stdout:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not reachable from the host: {done.stderr}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()

"""The virtual display the headful Chromium renders on, and the x11vnc server that exposes it.

Xvfb picks a free display number itself (`-displayfd`), and x11vnc listens on localhost only: the
tool server's authenticated `/vnc` WebSocket is the one way in from outside.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time

from sandbox_server.config import Config

log = logging.getLogger("sandbox_server.display")


class DisplayError(RuntimeError):
    """Xvfb or x11vnc is missing or did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VirtualDisplay:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.display: str | None = None
        self.rfb_port: int | None = None
        self._xvfb: subprocess.Popen[bytes] | None = None
        self._x11vnc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        xvfb, x11vnc = shutil.which("Xvfb"), shutil.which("x11vnc")
        if xvfb is None or x11vnc is None:
            raise DisplayError("Xvfb or x11vnc is not installed (apt-get install xvfb x11vnc)")
        read_fd, write_fd = os.pipe()
        try:
            self._xvfb = subprocess.Popen(  # noqa: S603 - fixed argv
                [xvfb, "-displayfd", str(write_fd), "-screen", "0", self.config.screen, "-nolisten", "tcp"],
                pass_fds=(write_fd,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            os.close(write_fd)
            write_fd = -1
            number = _read_line(read_fd, timeout=15)
        finally:
            os.close(read_fd)
            if write_fd >= 0:
                os.close(write_fd)
        if not number.isdigit():
            self.stop()
            raise DisplayError("Xvfb did not report a display number")
        self.display = f":{number}"
        self.rfb_port = self.config.vnc_port or free_port()
        self._x11vnc = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                x11vnc,
                "-display",
                self.display,
                "-rfbport",
                str(self.rfb_port),
                "-localhost",
                "-nopw",
                "-forever",
                "-shared",
                "-noipv6",
                "-quiet",
                "-noxdamage",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._x11vnc.poll() is not None:
                self.stop()
                raise DisplayError("x11vnc exited at start")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.rfb_port), 0.5):
                log.info("display %s, x11vnc on 127.0.0.1:%s", self.display, self.rfb_port)
                return
            time.sleep(0.05)
        self.stop()
        raise DisplayError("x11vnc did not start listening")

    def stop(self) -> None:
        for proc in (self._x11vnc, self._xvfb):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self._x11vnc = self._xvfb = None


def _read_line(fd: int, timeout: float) -> str:
    import select

    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()

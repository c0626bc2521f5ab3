"""The jail's first process: start the tool server, then expose its port as a unix socket.

Runs INSIDE the bubblewrap jail with the system Python and the standard library only (it is bind-mounted
read-only and executed as a script, never imported by riadex). The jail has its own network namespace,
so its loopback is unreachable from the host; the socket lives in a directory bind-mounted from the
host, which is how the control plane gets in, and the only way in.

    python3 jail_relay.py <socket path> <server command ...>

Prints `RELAY_READY` once the socket accepts. Exits with the server's status when the server exits.
"""

from __future__ import annotations

import asyncio
import os
import sys

READY_PREFIX = b"SANDBOX_READY port="


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def main(socket_path: str, command: list[str]) -> int:
    # The server reads its secret from this descriptor (SANDBOX_SECRET_FD); the relay keeps no copy.
    secret_fd = os.environ.get("SANDBOX_SECRET_FD")
    passed = (int(secret_fd),) if secret_fd and secret_fd.isdigit() else ()
    server = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE, pass_fds=passed)
    for fd in passed:
        os.close(fd)
    assert server.stdout is not None
    port = 0
    while not port:
        line = await server.stdout.readline()
        if not line:
            return await server.wait() or 1
        if line.startswith(READY_PREFIX):
            port = int(line[len(READY_PREFIX) :].split()[0])
    drain = asyncio.ensure_future(_drain(server.stdout))

    async def connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    if os.path.exists(socket_path):  # noqa: ASYNC240
        os.unlink(socket_path)
    relay = await asyncio.start_unix_server(connect, path=socket_path)
    print("RELAY_READY", flush=True)
    status = await server.wait()
    relay.close()
    drain.cancel()
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2:])))

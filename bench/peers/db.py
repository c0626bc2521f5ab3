"""The Riadex side's DynamoDB for `make bench-peers`: moto with the local stack's own fidelity patches,
in a process of its own so the bench can seed events directly. `python -m bench.peers.db PORT`."""

from __future__ import annotations

import signal
import sys
import threading

from moto.server import ThreadedMotoServer

from riadex.entrypoints.local.moto_fidelity import make_dynamodb_atomic


def main(port: int) -> None:
    make_dynamodb_atomic()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))

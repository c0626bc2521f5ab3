"""The Riadex side's DynamoDB for `make bench-peers`: moto patched as the local stack patches it
(atomic, without moto's costs DynamoDB does not have), in a process of its own so the bench can seed
events directly. `python -m bench.peers.db PORT`."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from moto.server import ThreadedMotoServer

from riadex.entrypoints.local.moto_fidelity import make_dynamodb_atomic, make_dynamodb_fast


def main(port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
    make_dynamodb_atomic()
    make_dynamodb_fast()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))

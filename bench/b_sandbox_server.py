"""Shell round-trip through the sandbox tool server: `true` via POST /shell/exec, wait=true.

Measured directly against the server process (no riadex in between), over one kept-alive HTTP
connection, so it is the floor a tool call pays: HTTP + JSON + one `bash -c` in its own process group.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.integration.sandbox_server.harness import ToolServer, call

WARMUP = 10
ROUNDS = 200


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        started = time.perf_counter()
        server = ToolServer(Path(tmp) / "workspace").start()
        startup_ms = (time.perf_counter() - started) * 1000
        try:
            with server.client() as client:
                for _ in range(WARMUP):
                    call(client, "/shell/exec", session_id="bench", command="true")
                shell_ms = []
                for _ in range(ROUNDS):
                    t0 = time.perf_counter()
                    call(client, "/shell/exec", session_id="bench", command="true")
                    shell_ms.append((time.perf_counter() - t0) * 1000)
                health_ms = []
                for _ in range(ROUNDS):
                    t0 = time.perf_counter()
                    client.get("/health").raise_for_status()
                    health_ms.append((time.perf_counter() - t0) * 1000)
        finally:
            server.stop()
    return {
        "tool_server_start_ms": round(startup_ms, 1),
        "shell_true_roundtrip_p50_ms": round(statistics.median(shell_ms), 2),
        "shell_true_roundtrip_p99_ms": round(_percentile(shell_ms, 0.99), 2),
        "health_roundtrip_p50_ms": round(statistics.median(health_ms), 2),
        "shell_rounds": ROUNDS,
    }

"""What the process sandbox's network and workspace cost: acquire with `SANDBOX_NETWORK=none` against
`internet` (the slirp4netns uplink and the egress rules), and a workspace of 10 MB and of 100 MB
(random bytes: the worst case for gzip) saved to S3 (moto) and restored into a new sandbox. The memory
of an idle sandbox is in b_sandbox.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "core"))

from riadex.adapters.sandbox.process.provider import ProcessSandboxes  # noqa: E402
from riadex.adapters.storage.s3 import S3ObjectStore  # noqa: E402
from riadex.adapters.tools.gateway import HttpToolGateway, HttpWorkspaceTransfer  # noqa: E402
from riadex.application.workspaces import Workspaces  # noqa: E402
from riadex.domain import ids  # noqa: E402

ACQUIRES = 5


def _acquires(root: Path, figures: dict[str, object]) -> None:
    times: dict[str, list[float]] = {"none": [], "internet": []}
    for _ in range(ACQUIRES):
        for mode in times:
            provider = ProcessSandboxes(server_dir=ROOT / "sandbox-image", root=root / mode, network=mode)
            started = time.perf_counter()
            handle = provider.acquire(ids.new_id("sbx"), ids.new_id("ses"), ids.new_id("usr"))
            times[mode].append((time.perf_counter() - started) * 1000)
            provider.release(handle)
    for mode, values in times.items():
        figures[f"process_acquire_{mode}_median_ms"] = round(statistics.median(values), 1)
    figures["process_uplink_cost_median_ms"] = round(
        statistics.median(times["internet"]) - statistics.median(times["none"]), 1
    )


def _workspaces(root: Path, figures: dict[str, object]) -> None:
    from moto.server import ThreadedMotoServer

    from riadex.entrypoints.local.agent_workflow import ensure_bucket
    from riadex.entrypoints.local.stack import isolate_from_aws

    saved = dict(os.environ)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        isolate_from_aws(f"http://{host}:{port}", "us-east-1")
        ensure_bucket("us-east-1", "bench-workspaces")
        workspaces = Workspaces(
            HttpWorkspaceTransfer(), S3ObjectStore("bench-workspaces", "us-east-1"), 1 << 30
        )
        provider = ProcessSandboxes(server_dir=ROOT / "sandbox-image", root=root / "ws", network="none")
        tools = HttpToolGateway()
        for mb in (10, 100):
            session = ids.new_id("ses")
            first = provider.acquire(ids.new_id("sbx"), session, "usr")
            tools.call(
                first, "shell_exec", {"session_id": "b", "command": f"head -c {mb}M /dev/urandom > blob"}
            )
            started = time.perf_counter()
            workspaces.save(session, first)
            figures[f"workspace_{mb}mb_save_s"] = round(time.perf_counter() - started, 2)
            provider.release(first)
            second = provider.acquire(ids.new_id("sbx"), session, "usr")
            started = time.perf_counter()
            workspaces.restore(session, second)
            figures[f"workspace_{mb}mb_restore_s"] = round(time.perf_counter() - started, 2)
            provider.release(second)
    finally:
        moto.stop()
        os.environ.clear()
        os.environ.update(saved)


def run() -> dict[str, object]:
    if os.geteuid() != 0 or subprocess.run(["which", "bwrap", "slirp4netns"], capture_output=True).returncode:
        return {"skipped": "needs root, bubblewrap and slirp4netns (make system-deps)"}
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        _acquires(root, figures)
        _workspaces(root, figures)
    return figures

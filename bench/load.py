"""`make load`: many sessions running multi-step agent runs at once on the local stack (`make dev`'s
own command, on a free loopback port), each watched by a live SSE client that drops and resumes.

Per level (concurrent sessions), every session runs RUNS_PER_SESSION scripted runs (a plan of three
tool steps in its own sandbox). Checked: every event arrives at its client exactly once with no gap
(across the drops), each run has exactly one `done` and it is `completed`. Measured: p50/p99 of event
latency (arrival at the client minus the event's stored `ts`), runs per minute, the stack's peak RSS
and CPU (the stack process and its children: the sandboxes). Levels step up until one fails or its
p99 latency passes SATURATED_P99_S. `--soak SECONDS` then runs half the last good level for that long,
each client starting a new session, running one run, checking it and deleting the session (so the data
kept stays level, as with any retention), and samples memory every 0.5 s (it must level off).
Figures go to bench/results.json under "load".

Not part of `make test`: localhost only, bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results.json"
MESSAGE = "Work in steps\n!shell echo one\n!write notes.txt two\n!read notes.txt"
RUNS_PER_SESSION = 2
DROP_EVERY = 7  # the client disconnects after this many events, then resumes with Last-Event-ID
SATURATED_P99_S = 10.0
LEVEL_TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Usage:
    """Peak RSS and CPU of a process tree, sampled from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_rss_mb = 0.0
        self.rss_samples: list[tuple[float, float]] = []
        self.cpu_peak_percent = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")
        self._page_kb = os.sysconf("SC_PAGE_SIZE") / 1024

    def _tree(self) -> list[int]:
        pids, frontier = [self.pid], [self.pid]
        while frontier:
            parent = frontier.pop()
            with contextlib.suppress(OSError):
                for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
                    pids.append(int(child))
                    frontier.append(int(child))
        return pids

    def _sample(self) -> tuple[float, float]:
        rss_kb, ticks = 0.0, 0
        for pid in self._tree():
            with contextlib.suppress(OSError, IndexError, ValueError):
                rss_kb += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self._page_kb
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
        return rss_kb / 1024, ticks / self._tick

    def _loop(self) -> None:
        last_cpu, last_t = self._sample()[1], time.monotonic()
        while not self._stop.wait(0.5):
            rss, cpu = self._sample()
            now = time.monotonic()
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self.rss_samples.append((now, rss))
            if now > last_t:
                self.cpu_peak_percent = max(self.cpu_peak_percent, 100 * (cpu - last_cpu) / (now - last_t))
            last_cpu, last_t = cpu, now

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


class Session:
    """One user with one session, its runs, and a live SSE client that drops and resumes."""

    def __init__(self, base: str, runs: int, delete: bool = False) -> None:
        self.base = base
        self.runs = runs
        self.delete = delete  # the soak's clients delete their session once checked: a steady state
        self.received: list[int] = []
        self.latencies: list[float] = []
        self.dones: dict[str, str] = {}
        self.reconnects = 0
        self.error: str | None = None

    def __call__(self) -> None:
        try:
            self._run()
        except Exception as exc:  # reported, not raised: the level fails
            self.error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60) as api:
            token = api.post("/users", json={"name": "load"}).raise_for_status().json()["data"]["token"]
            auth = {"Authorization": f"Bearer {token}"}
            sid = api.put("/sessions", headers=auth).raise_for_status().json()["data"]["session_id"]
            for _ in range(self.runs):
                response = api.post(f"/sessions/{sid}/messages", json={"message": MESSAGE}, headers=auth)
                run_id = response.raise_for_status().json()["data"]["run_id"]
                self._follow(api, auth, sid, run_id)
            stored = [e["seq"] for e in api.get(f"/sessions/{sid}", headers=auth).json()["data"]["events"]]
            if self.received != stored or stored != list(range(1, len(stored) + 1)):
                raise AssertionError(f"received {len(self.received)} events, stored {len(stored)}")
            if self.delete:
                api.delete(f"/sessions/{sid}", headers=auth).raise_for_status()

    def _follow(self, api: httpx.Client, auth: dict[str, str], sid: str, run_id: str) -> None:
        deadline = time.monotonic() + LEVEL_TIMEOUT_S
        while run_id not in self.dones:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no done for {run_id}")
            headers = {**auth, **({"Last-Event-ID": str(self.received[-1])} if self.received else {})}
            got = 0
            with connect_sse(api, "GET", f"/sessions/{sid}/events", headers=headers) as source:
                for sse in source.iter_sse():
                    if sse.event in ("reconnect", "resync") or not sse.data:
                        continue
                    arrived = time.time()
                    event = json.loads(sse.data)
                    self.received.append(int(sse.id))
                    stored_at = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()
                    self.latencies.append(arrived - stored_at)
                    if event["type"] == "done":
                        if event["run_id"] in self.dones:
                            raise AssertionError(f"a second done for {event['run_id']}")
                        self.dones[event["run_id"]] = event["data"]["status"]
                        if event["run_id"] == run_id:
                            break
                    got += 1
                    if got >= DROP_EVERY:
                        break  # drop the connection; the loop resumes after the last id
            self.reconnects += 1


def _level(base: str, usage: Usage, sessions: int, runs: int) -> dict[str, Any]:
    usage.peak_rss_mb, usage.cpu_peak_percent = 0.0, 0.0
    clients = [Session(base, runs) for _ in range(sessions)]
    threads = [threading.Thread(target=c, daemon=True) for c in clients]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(LEVEL_TIMEOUT_S)
    elapsed = time.monotonic() - started
    latencies = [lat for c in clients for lat in c.latencies]
    statuses = [s for c in clients for s in c.dones.values()]
    errors = [c.error for c in clients if c.error] + ["still running" for t in threads if t.is_alive()]
    completed = statuses.count("completed")
    return {
        "sessions": sessions,
        "runs": sessions * runs,
        "runs_completed": completed,
        "runs_not_completed": sessions * runs - completed,
        "events": len(latencies),
        "reconnects": sum(c.reconnects for c in clients),
        "errors": errors[:5],
        "error_count": len(errors),
        "seconds": round(elapsed, 1),
        "runs_per_minute": round(completed / (elapsed / 60), 1),
        "event_latency_p50_ms": round(_pct(latencies, 0.5) * 1000, 1),
        "event_latency_p99_ms": round(_pct(latencies, 0.99) * 1000, 1),
        "peak_rss_mb": round(usage.peak_rss_mb, 1),
        "peak_cpu_percent": round(usage.cpu_peak_percent, 1),
    }


def _soak(base: str, usage: Usage, sessions: int, seconds: float) -> dict[str, Any]:
    stop_at = time.monotonic() + seconds
    done_runs = [0]
    failures: list[str] = []

    def loop() -> None:
        while time.monotonic() < stop_at:
            client = Session(base, 1, delete=True)
            client()
            if client.error:
                failures.append(client.error)
            done_runs[0] += list(client.dones.values()).count("completed")

    first = len(usage.rss_samples)
    threads = [threading.Thread(target=loop, daemon=True) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + LEVEL_TIMEOUT_S)
    samples = usage.rss_samples[first:]
    t0 = samples[0][0] if samples else 0.0
    by_minute: dict[int, float] = {}  # the peak of each minute
    for t, rss in samples:
        by_minute[int((t - t0) // 60)] = max(rss, by_minute.get(int((t - t0) // 60), 0.0))
    quarter = max(1, len(samples) // 4)
    return {
        "sessions": sessions,
        "seconds": seconds,
        "runs_completed": done_runs[0],
        "failures": len(failures),
        "rss_mb_first_quarter_max": round(max(r for _, r in samples[:quarter]), 1) if samples else None,
        "rss_mb_last_quarter_max": round(max(r for _, r in samples[-quarter:]), 1) if samples else None,
        "rss_mb_peak_each_minute": [round(by_minute[m], 1) for m in sorted(by_minute)],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,25,50,75,100", help="concurrent sessions per level")
    parser.add_argument("--runs", type=int, default=RUNS_PER_SESSION, help="runs per session")
    parser.add_argument("--soak", type=float, default=0, help="seconds of soak at half the last good level")
    args = parser.parse_args(argv)
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="riadex-load-"))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RIADEX_", "MOTO_"))},
        "PYTHONPATH": str(ROOT / "layers" / "core"),
        "PORT": str(port),
        "RIADEX_DATA_DIR": str(data_dir),
    }
    stack = subprocess.Popen(
        [sys.executable, "-m", "riadex.entrypoints.local"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    figures: dict[str, Any] = {"levels": []}
    usage = Usage(stack.pid)
    try:
        assert stack.stdout is not None
        for line in stack.stdout:
            if "is ready on" in line:
                break
        else:
            raise SystemExit("the local stack did not start")
        threading.Thread(target=lambda: [None for _ in stack.stdout or []], daemon=True).start()
        usage.start()
        good = 0
        for sessions in (int(n) for n in args.levels.split(",")):
            print(f"level: {sessions} sessions x {args.runs} runs ...", flush=True)
            result = _level(base, usage, sessions, args.runs)
            print(json.dumps(result), flush=True)
            figures["levels"].append(result)
            if result["error_count"] or result["runs_not_completed"]:
                figures["saturated_at"] = {"sessions": sessions, "what_gave": "runs failed or stalled"}
                break
            if result["event_latency_p99_ms"] > SATURATED_P99_S * 1000:
                figures["saturated_at"] = {"sessions": sessions, "what_gave": "p99 event latency"}
                good = sessions
                break
            good = sessions
        if args.soak and good:
            print(f"soak: {good // 2} sessions for {args.soak:.0f} s ...", flush=True)
            figures["soak"] = _soak(base, usage, max(1, good // 2), args.soak)
            print(json.dumps(figures["soak"]), flush=True)
    finally:
        usage.stop()
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(60)
        except subprocess.TimeoutExpired:
            stack.kill()
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["load"] = {"figures": figures, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"written to {RESULTS}")
    failed = [lv for lv in figures["levels"] if lv["error_count"] and lv["sessions"] <= 50]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

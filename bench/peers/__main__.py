"""`make bench-peers`: the same workloads against Riadex's local stack and LangGraph's dev server.

Both servers run as their own processes on this machine, in one run, driven by one HTTP/SSE client
(httpx + httpx-sse). LangGraph's side is `langgraph dev` (in-memory runtime, its own virtualenv under
.tools/langgraph, pinned by bench/peers/requirements.txt) serving graph.py, a graph with no model that
emits n custom events. Riadex's side is `python -m riadex.entrypoints.local` (what `make dev` runs)
with the scripted model, its DynamoDB in a separate moto process (db.py) so the bench can seed a
10,000-event session directly.

Workloads (each figure printed for both, with the ratio Riadex / LangGraph):
- first event: a new run started in the background (Riadex: POST a message; LangGraph: POST a
  background run) and its stream opened at once; time to the run's first event (Riadex: `title`, the
  agent's first; LangGraph: the first custom event). p50 over RUNS_FIRST runs.
- 10k replay: a finished 10,000-event log read from the start to its last event.
- resume near the end: `Last-Event-ID` five events before the end of that log; time to the first event
  and how many of the 5 arrived.
- 20 x 200: 20 runs at once, each ~200 events, each streamed live by its own client; wall time and
  events lost (expected minus received, by the payload's own counter or seq). The same work on both
  sides: one model-less step streaming its output (LangGraph: the node writes 200 custom events;
  Riadex: a message with no directive, which the scripted model answers by echoing it, streamed as
  ~192 `delta` events of 64 characters — a slow write makes the batches smaller, so the events per run
  are reported too).
- cancel: a long run cancelled; time from the cancel request to the run no longer running (status
  polled), p50.
- idle memory: the server's processes' RSS after warm-up, at rest.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results.json"
LANGGRAPH = ROOT / ".tools" / "langgraph" / "bin" / "langgraph"

RUNS_FIRST = 10
REPLAY_EVENTS = 10_000
CONCURRENT = 20
EVENTS_PER_RUN = 200
CANCELS = 5
# A Riadex run without a plan writes ~8 events besides its answer's deltas (run statuses, the user's
# message, title, the answer's message, done).
RUN_EVENTS = 8


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_http(url: str, deadline_s: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not up in {deadline_s} s")


def _rss_mib(pid: int) -> float:
    """RSS of a process and its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo.extend(int(c) for c in children)
    return round(total / 1024, 1)


def _p50(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


@contextmanager
def _process(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _replay_and_resume(
    replay: Callable[[], Iterator[object]], resume: Callable[[], Iterator[object]]
) -> dict[str, float]:
    """A whole finished log read from the start, then five resumes five events before its end: the
    time to the first event and how many of the five arrived (the fewest over the tries)."""
    started = time.perf_counter()
    got = sum(1 for _ in replay())
    replayed = time.perf_counter() - started
    assert got == REPLAY_EVENTS, got
    resumes, arrived = [], []
    for _ in range(5):
        started = time.perf_counter()
        first: float | None = None
        seen = 0
        for _ in resume():
            first = first if first is not None else time.perf_counter() - started
            seen += 1
        resumes.append(first if first is not None else float("nan"))
        arrived.append(seen)
    return {
        "replay_10k_ms": round(replayed * 1000, 1),
        "resume_near_end_first_event_ms": _p50(resumes),
        "resume_near_end_events_of_5": min(arrived),
    }


def _through_seq(events: Iterator[dict[str, Any]], last: int) -> Iterator[dict[str, Any]]:
    for event in events:
        yield event
        if event["seq"] == last:
            return


# --- LangGraph -----------------------------------------------------------------------------------


class LangGraph:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=120)

    def start(self, n: int, delay: float = 0.0) -> tuple[str, str]:
        tid = self.http.post("/threads", json={}).json()["thread_id"]
        run = self.http.post(
            f"/threads/{tid}/runs",
            json={
                "assistant_id": "emitter",
                "input": {"n": n, "delay": delay},
                "stream_mode": ["custom"],
                "stream_resumable": True,
            },
        ).json()
        return tid, run["run_id"]

    def stream(self, tid: str, rid: str, last_id: str | None = None) -> Iterator[tuple[str, int]]:
        headers = {"Last-Event-ID": last_id} if last_id is not None else {}
        path = f"/threads/{tid}/runs/{rid}/stream"
        with connect_sse(self.http, "GET", path, params={"stream_mode": "custom"}, headers=headers) as es:
            for ev in es.iter_sse():
                if ev.event == "custom":
                    yield ev.id, int(json.loads(ev.data)["i"])

    def first_event(self) -> float:
        started = time.perf_counter()
        tid, rid = self.start(1)
        for _ in self.stream(tid, rid):
            return time.perf_counter() - started
        raise RuntimeError("no event")

    def replay_and_resume(self) -> dict[str, float]:
        tid, rid = self.start(REPLAY_EVENTS)
        ids = [event_id for event_id, _ in self.stream(tid, rid)]  # live, to the end
        return _replay_and_resume(
            lambda: self.stream(tid, rid, last_id="0"), lambda: self.stream(tid, rid, last_id=ids[-6])
        )

    def concurrent(self) -> dict[str, float]:
        def one(_: int) -> int:
            tid, rid = self.start(EVENTS_PER_RUN)
            return len({i for _, i in self.stream(tid, rid)})

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            received = list(pool.map(one, range(CONCURRENT)))
        return {
            "concurrent_20x200_wall_s": round(time.perf_counter() - started, 2),
            "concurrent_20x200_lost": CONCURRENT * EVENTS_PER_RUN - sum(received),
        }

    def cancel(self) -> float:
        tid, rid = self.start(100_000, delay=0.01)
        next(iter(self.stream(tid, rid)))  # running: its first event arrived
        started = time.perf_counter()
        self.http.post(f"/threads/{tid}/runs/{rid}/cancel", params={"wait": "false"})
        while self.http.get(f"/threads/{tid}/runs/{rid}").json()["status"] in ("pending", "running"):
            time.sleep(0.001)
        return time.perf_counter() - started


# --- Riadex --------------------------------------------------------------------------------------


class Riadex:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=120, headers={"Content-Type": "application/json"})
        token = self.http.post("/api/v1/users", json={"name": "bench"}).json()["data"]["token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def session(self) -> str:
        return str(self.http.put("/api/v1/sessions", json={"title": "bench"}).json()["data"]["session_id"])

    def start(self, sid: str, message: str) -> str:
        answer = self.http.post(f"/api/v1/sessions/{sid}/messages", json={"message": message})
        answer.raise_for_status()
        return str(answer.json()["data"]["run_id"])

    def events(self, path: str, after: int | None = None) -> Iterator[dict[str, Any]]:
        headers = {"Last-Event-ID": str(after)} if after is not None else {}
        with connect_sse(self.http, "GET", path, headers=headers) as es:
            for ev in es.iter_sse():
                if ev.event == "resync":
                    raise RuntimeError(f"resync on {path}")
                if ev.event not in ("reconnect", "ping") and ev.data:  # stored events only
                    yield json.loads(ev.data)

    def first_event(self) -> float:
        sid = self.session()
        started = time.perf_counter()
        rid = self.start(sid, "hello")
        for event in self.events(f"/api/v1/runs/{rid}/events"):
            if event["type"] in ("title", "plan", "message") and event["data"].get("role") != "user":
                took = time.perf_counter() - started
                self._drain(rid)
                return took
        raise RuntimeError("no agent event")

    def _drain(self, rid: str) -> list[dict[str, Any]]:
        return list(self.events(f"/api/v1/runs/{rid}/events", after=0))

    def replay_and_resume(self, seed: Callable[[str, int], None]) -> dict[str, float]:
        sid = self.session()
        seed(sid, REPLAY_EVENTS)
        path = f"/api/v1/sessions/{sid}/events"  # a session stream stays open: read to the last seq
        return _replay_and_resume(
            lambda: _through_seq(self.events(path, after=0), REPLAY_EVENTS),
            lambda: _through_seq(self.events(path, after=REPLAY_EVENTS - 5), REPLAY_EVENTS),
        )

    def concurrent(self) -> dict[str, float]:
        # No directive: the scripted model's answer echoes the message, streamed as `delta` events of
        # 64 characters (application/deltas.py), as LangGraph's node writes its events.
        message = "".join(f"{i:063d} " for i in range(EVENTS_PER_RUN - RUN_EVENTS))

        def one(_: int) -> tuple[int, int]:
            sid = self.session()
            rid = self.start(sid, message)
            seqs = [e["seq"] for e in self.events(f"/api/v1/runs/{rid}/events")]
            expected = seqs[-1] - seqs[0] + 1 if seqs else 0
            return len(set(seqs)), expected

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENT) as pool:
            results = list(pool.map(one, range(CONCURRENT)))
        return {
            "concurrent_20x200_wall_s": round(time.perf_counter() - started, 2),
            "concurrent_20x200_lost": sum(expected - got for got, expected in results),
            "concurrent_events_per_run": round(statistics.mean(got for got, _ in results)),
        }

    def cancel(self) -> float:
        sid = self.session()
        rid = self.start(sid, "!sleep 60")
        for event in self.events(f"/api/v1/runs/{rid}/events"):
            if event["type"] == "tool" and event["data"]["status"] == "calling":
                break
        started = time.perf_counter()
        self.http.post(f"/api/v1/runs/{rid}/cancel")
        while self.http.get(f"/api/v1/runs/{rid}").json()["data"]["status"] in ("queued", "running"):
            time.sleep(0.001)
        took = time.perf_counter() - started
        self._drain(rid)
        return took


def _seeder(endpoint: str) -> Callable[[str, int], None]:
    from riadex.adapters.dynamodb import tables
    from riadex.bootstrap import bind_tables
    from riadex.config import Settings

    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)  # moto's; never a real account's
    bind_tables(Settings(dynamodb_endpoint=endpoint))

    def seed(sid: str, count: int) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with tables.EventItem.batch_write() as batch:
            for seq in range(1, count + 1):
                batch.save(
                    tables.EventItem(
                        session_id=sid,
                        seq=seq,
                        run_id=None,
                        type="step",
                        ts=now,
                        data={"i": seq, "pad": "x" * 200},
                    )
                )
        tables.SessionItem(session_id=sid).update(actions=[tables.SessionItem.last_seq.set(count)])

    return seed


# --- the run -------------------------------------------------------------------------------------


def _measure(side: Any, seed: Callable[[str, int], None] | None, pid: int) -> dict[str, float]:
    """Each workload in turn, its figures printed as soon as it is done."""
    figures: dict[str, float] = {}

    def workload(name: str, measure: Callable[[], dict[str, float]]) -> None:
        started = time.perf_counter()
        found = measure()
        print(f"  {name} ({time.perf_counter() - started:.1f} s): {json.dumps(found)}", flush=True)
        figures.update(found)

    side.first_event()  # warm-up
    workload("idle memory", lambda: {"idle_memory_mib": _rss_mib(pid)})
    workload(
        "first event", lambda: {"first_event_ms_p50": _p50([side.first_event() for _ in range(RUNS_FIRST)])}
    )
    workload("10k replay, resume", lambda: side.replay_and_resume(seed) if seed else side.replay_and_resume())
    workload(f"{CONCURRENT} concurrent runs", side.concurrent)
    workload(
        "cancel", lambda: {"cancel_to_not_running_ms_p50": _p50([side.cancel() for _ in range(CANCELS)])}
    )
    return figures


def run_langgraph(work: Path) -> dict[str, float]:
    if not LANGGRAPH.exists():
        raise SystemExit(f"{LANGGRAPH} is missing: run `make bench-peers` (it creates that virtualenv)")
    port = _free_port()
    env = {**os.environ, "LANGGRAPH_NO_TELEMETRY": "1", "LANGSMITH_TRACING": "false"}
    cmd = [str(LANGGRAPH), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)]
    with _process(cmd, env, HERE, work / "langgraph.log") as proc:
        _wait_http(f"http://127.0.0.1:{port}/ok", 120, proc)
        return _measure(LangGraph(f"http://127.0.0.1:{port}"), None, proc.pid)


def run_riadex(work: Path) -> dict[str, float]:
    db_port, port = _free_port(), _free_port()
    python = sys.executable
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "layers" / "core"),
        "PORT": str(port),
        "RIADEX_DATA_DIR": str(work / "riadex"),
        "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{db_port}",
        "AUTH_SECRET": "p" * 48,
        "LLM_PROVIDER": "scripted",
    }
    db_cmd = [python, "-m", "bench.peers.db", str(db_port)]
    with _process(db_cmd, env, ROOT, work / "moto.log") as db:
        _wait_http(f"http://127.0.0.1:{db_port}/moto-api/", 60, db)
        cmd = [python, "-m", "riadex.entrypoints.local"]
        with _process(cmd, env, ROOT, work / "riadex.log") as proc:
            _wait_http(f"http://127.0.0.1:{port}/api/v1/health", 120, proc)
            figures = _measure(
                Riadex(f"http://127.0.0.1:{port}"), _seeder(env["DYNAMODB_ENDPOINT"]), proc.pid
            )
            figures["idle_memory_mib"] = round(figures["idle_memory_mib"] + _rss_mib(db.pid), 1)
            return figures


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so the servers started above are stopped on the way out


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="riadex-peers-"))
    print(f"logs in {work}", flush=True)
    sides = {"langgraph": run_langgraph, "riadex": run_riadex}
    if argv:  # one side only (`python -m bench.peers riadex`): its figures printed, nothing written
        if argv[0] not in sides:
            raise SystemExit(f"usage: python -m bench.peers [{' | '.join(sides)}]")
        print(json.dumps(sides[argv[0]](work)), flush=True)
        return 0
    print("LangGraph dev server ...", flush=True)
    langgraph = run_langgraph(work)
    print(json.dumps(langgraph), flush=True)
    print("Riadex local stack ...", flush=True)
    riadex = run_riadex(work)
    print(json.dumps(riadex), flush=True)
    table = {
        key: {
            "riadex": riadex[key],
            "langgraph": langgraph[key],
            "ratio": _ratio(riadex[key], langgraph[key]),
        }
        for key in langgraph
    }
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["peers"] = {
        "figures": table,
        "riadex_only": {k: v for k, v in riadex.items() if k not in langgraph},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print("\n| figure | Riadex | LangGraph dev | Riadex / LangGraph |\n|---|---|---|---|")
    for key, row in table.items():
        print(f"| {key} | {row['riadex']} | {row['langgraph']} | {row['ratio']} |")
    print(f"\nwritten to {RESULTS}")
    return 0


def _ratio(a: float, b: float) -> float | str:
    return round(a / b, 2) if b else "n/a"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Cold import time of each Lambda entry module, in fresh interpreters (median of several).

A Lambda pays this on every cold start, so it is measured the way Lambda pays it: a new process that
imports the handler module, nothing warmed. Also records which LLM SDKs each import dragged in: the API
function must import none.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7
LLM_SDKS = ("openai", "anthropic", "google.genai")

_PROBE = """
import importlib.util, json, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("handler", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "modules": sorted(sys.modules)}))
"""


def entry_modules() -> dict[str, Path]:
    return {p.parent.name: p for p in sorted((ROOT / "functions").glob("*/handler.py"))}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(ROOT / "layers" / "core"),
            "AUTH_MODE": "cognito",
            "COGNITO_USER_POOL_ID": "us-east-1_Bench",
            "COGNITO_CLIENT_IDS": "bench-client",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "PYTHONDONTWRITEBYTECODE": "0",
        }
    )
    return env


def measure(path: Path, runs: int = RUNS) -> tuple[float, list[str]]:
    times: list[float] = []
    sdks: set[str] = set()
    env = _env()
    # One untimed run compiles bytecode, as a deployed layer ships it precompiled.
    subprocess.run([sys.executable, "-c", _PROBE, str(path)], env=env, check=True, capture_output=True)
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)], env=env, check=True, capture_output=True, text=True
        )
        result = json.loads(out.stdout)
        times.append(result["seconds"])
        sdks.update(m for m in result["modules"] if m in LLM_SDKS)
    return statistics.median(times), sorted(sdks)


def run() -> dict[str, object]:
    figures: dict[str, object] = {}
    for name, path in entry_modules().items():
        seconds, sdks = measure(path)
        figures[f"{name}_cold_import_ms"] = round(seconds * 1000)
        figures[f"{name}_llm_sdks_imported"] = ",".join(sdks) or "none"
    return figures

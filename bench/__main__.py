"""Run every bench/b_*.py, merge their figures into bench/results.json and print a table.

`python -m bench` runs all; `python -m bench cold_start stream` runs the named ones.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"


def _modules(names: list[str]) -> list[str]:
    found = sorted(p.stem for p in HERE.glob("b_*.py"))
    if not names:
        return found
    wanted = [f"b_{n.removeprefix('b_')}" for n in names]
    missing = [w for w in wanted if w not in found]
    if missing:
        raise SystemExit(f"no such benchmark: {', '.join(missing)} (have: {', '.join(found)})")
    return wanted


def main(argv: list[str]) -> int:
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["machine"] = {"python": platform.python_version(), "cpus": platform.machine()}
    for name in _modules(argv):
        print(f"running {name} ...", flush=True)
        started = time.perf_counter()
        figures = importlib.import_module(f"bench.{name}").run()
        results[name.removeprefix("b_")] = {
            "figures": figures,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.perf_counter() - started, 1),
        }
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    width = max((len(k) for r in results.values() if "figures" in r for k in r["figures"]), default=10)
    for group, result in sorted(results.items()):
        if "figures" not in result:
            continue
        print(f"\n{group} ({result['measured_at']})")
        for key, value in result["figures"].items():
            print(f"  {key:<{width}}  {value}")
    print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Runs inside the clean interpreter of the packaging test (no project, no test code on the path).

argv: module attribute. Imports the handler module the way the runtime does, times it, and checks where
every loaded module came from and that its bytecode was there. Prints one JSON line.
"""

import importlib
import importlib.util
import json
import sys
import sysconfig
import time

module_name, attribute = sys.argv[1], sys.argv[2]
started, cpu_started = time.perf_counter(), time.process_time()
module = importlib.import_module(module_name)
seconds = time.perf_counter() - started
cpu_seconds = time.process_time() - cpu_started
stdlib = sysconfig.get_paths()["stdlib"]
allowed = ("/var/task/", "/opt/", "/var/runtime/", stdlib + "/")
outside: list[str] = []
without_pyc: list[str] = []
for name, loaded in list(sys.modules.items()):
    path = getattr(loaded, "__file__", None)
    if not path:
        continue
    if not path.startswith(allowed):
        outside.append(f"{name}: {path}")
    elif path.startswith("/opt/") and path.endswith(".py"):
        cached = importlib.util.cache_from_source(path)
        try:
            open(cached, "rb").close()
        except OSError:
            without_pyc.append(path)
print(
    json.dumps(
        {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "callable": callable(getattr(module, attribute, None)),
            "modules": len(sys.modules),
            "top_level": sorted({name.partition(".")[0] for name in sys.modules}),
            "outside": outside,
            "without_pyc": without_pyc,
            "cache_tag": sys.implementation.cache_tag,
        }
    )
)

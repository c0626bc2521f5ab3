"""The `sam build` output imports in the Lambda runtime's own conditions, one clean interpreter per function.

Each function's handler module is imported by the runtime's Python (template.yaml's Runtime) in a
bubblewrap jail that holds only what Lambda would hold: the function's build dir at /var/task, its layers
merged read-only at /opt, the AWS SDK the runtime bundles at /var/runtime, the environment the template
sets, no network, and neither the project nor the interpreter's own site-packages. A dependency missing
from a layer fails here, not in AWS. The bytecode the layers ship must be the runtime's (cpython-313),
and the API function, the latency-sensitive one, must import within API_IMPORT_TARGET.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.build import (
    BUILD_DIR,
    Function,
    build,
    functions,
    runtime_python,
    runtime_sdk,
)

API_IMPORT_TARGET = 0.5
"""CPU seconds of the API function's cold import, the best of API_IMPORT_TRIES: CPU time, not wall time,
because other suites and processes share the machine (on an idle one they are the same)."""
API_IMPORT_CEILING = 1.5
"""What fails the test: a gross regression only. The bytecode and the SDKs kept out of the cold start are
checked directly; CPU time still grows with a busy machine's cache misses (measured under a load of 15
on 2 cores: 0.55 s before the X-Ray/metrics instrumentation, 0.76-0.87 s after)."""
API_IMPORT_TRIES = 3
API_NOT_AT_COLD_START = ("boto3", "s3transfer", "jwt", "openai", "anthropic", "cryptography")
"""Made lazy on purpose (clients on first use, tokens only in local mode). httpx is not in the list: the
X-Ray SDK's patching imports it."""
PROBE = (Path(__file__).parent / "probe.py").read_text()
REPORT: list[dict[str, Any]] = []

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (bwrap)")


@pytest.fixture(scope="module")
def python() -> Path:
    found = runtime_python()
    if found is None:
        pytest.skip("needs the Lambda runtime's Python (make build names it)")
    return found


@pytest.fixture(scope="module")
def built(python: Path) -> list[Function]:
    build()
    return functions()


@pytest.fixture(scope="module")
def sdk(python: Path) -> Path:
    return runtime_sdk(python)


def layers_dir(function: Function) -> Path:
    """The function's layers as Lambda extracts them into /opt, in order (merged once per combination,
    by hard links; a single layer is bound as it is)."""
    if len(function.layers) == 1:
        return BUILD_DIR / function.layers[0]
    target = BUILD_DIR.parent / "packaging-opt" / "+".join(function.layers)
    stamp = target / ".merged"
    if stamp.exists() and stamp.read_text() == _layers_stamp(function.layers):
        return target
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for layer in function.layers:
        shutil.copytree(BUILD_DIR / layer, target, copy_function=_link_over, dirs_exist_ok=True)
    stamp.write_text(_layers_stamp(function.layers))
    return target


def _layers_stamp(layers: list[str]) -> str:
    return " ".join(f"{layer}:{(BUILD_DIR / layer).stat().st_mtime_ns}" for layer in layers)


def _link_over(source: str, destination: str) -> None:
    """A later layer's file replaces an earlier one's, as when Lambda extracts them in order."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(destination)
    os.link(source, destination)


@functools.cache
def _purelib(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def jailed_import(python: Path, sdk: Path, function: Function) -> dict[str, Any]:
    purelib = _purelib(python)
    env = {
        **function.environment,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "PYTHONPATH": "/var/task:/opt/python/lib/python3.13/site-packages:/opt/python:/var/runtime",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_ACCESS_KEY_ID": "packaging-test",
        "AWS_SECRET_ACCESS_KEY": "packaging-test",
    }
    command = [
        "bwrap",
        "--ro-bind", "/", "/",
        "--tmpfs", "/var",
        "--ro-bind", str(BUILD_DIR / function.logical_id), "/var/task",
        "--ro-bind", str(layers_dir(function)), "/opt",
        "--ro-bind", str(sdk), "/var/runtime",
        "--tmpfs", purelib,  # the interpreter's own site-packages: not in Lambda
        "--tmpfs", "/tmp",
        "--dev", "/dev",
        "--proc", "/proc",
        "--unshare-all",
        "--die-with-parent",
        "--chdir", "/var/task",
        "--clearenv",
    ]  # fmt: skip
    for key, value in env.items():
        command += ["--setenv", key, value]
    command += [str(python), "-c", PROBE, function.module, function.attribute]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{function.logical_id} does not import:\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_layers_ship_the_runtimes_bytecode(built: list[Function], python: Path) -> None:
    tag = subprocess.run(
        [str(python), "-c", "import sys; print(sys.implementation.cache_tag)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    layers = sorted({layer for function in built for layer in function.layers})
    assert layers, "no layer in the template"
    for layer in layers:
        sources = list((BUILD_DIR / layer).rglob("*.py"))
        assert len(sources) > 20, f"{layer} looks empty"
        missing = [
            str(src) for src in sources if not (src.parent / "__pycache__" / f"{src.stem}.{tag}.pyc").exists()
        ]
        assert not missing, f"{layer}: {len(missing)}/{len(sources)} without {tag} bytecode: {missing[:5]}"


def test_every_function_imports_its_handler_alone(built: list[Function], python: Path, sdk: Path) -> None:
    assert len(built) >= 10, [f.logical_id for f in built]
    failures = []
    for function in built:
        tries = API_IMPORT_TRIES if function.logical_id == "ApiFunction" else 1
        results = [jailed_import(python, sdk, function) for _ in range(tries)]
        best = min(results, key=lambda r: r["cpu_seconds"])
        REPORT.append({"function": function.logical_id, **best})
        if not best["callable"]:
            failures.append(f"{function.logical_id}: {function.module}.{function.attribute} is not callable")
        if best["outside"]:
            failures.append(f"{function.logical_id} loaded modules outside Lambda's paths: {best['outside']}")
        if best["without_pyc"]:
            failures.append(f"{function.logical_id} imported without bytecode: {best['without_pyc'][:5]}")
    assert not failures, "\n".join(failures)
    api = next(r for r in REPORT if r["function"] == "ApiFunction")
    eager = sorted(name for name in API_NOT_AT_COLD_START if name in api["top_level"])
    assert not eager, f"the API function's cold start imports {eager}"
    assert api["cpu_seconds"] <= API_IMPORT_CEILING, (
        f"the packaged API function's cold import takes {api['cpu_seconds']:.3f} CPU s"
        f" ({api['seconds']:.3f} s wall; target {API_IMPORT_TARGET} s, ceiling {API_IMPORT_CEILING} s)"
    )


def pytest_report() -> list[str]:
    lines = [f"{'function':<24} {'cpu s':>7} {'wall s':>7} {'modules':>8}"]
    for row in sorted(REPORT, key=lambda r: -float(r["cpu_seconds"])):
        lines.append(
            f"{row['function']:<24} {row['cpu_seconds']:>7.3f} {row['seconds']:>7.3f} {row['modules']:>8}"
        )
    return lines

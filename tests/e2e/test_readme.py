"""The README (and docs/) run as written: every ```sh block, in order, in one bash, against a local stack
started the way `make dev` starts it, from a fresh data directory and an empty working directory.

Each block must exit 0, and print what its promise lines say: a comment line starting with `# {`,
`# event:` or `# data:` is the output of the command before it, `…` standing for any text. Blocks that
must not run here (starting servers, deploying) are written as ```console instead.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, running_stack

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
PROMISE = re.compile(r"^# (\{|event:|data:)")
HANG_S = 180  # a guard against a block that never returns (an unbounded stream), not a budget


def sh_blocks(path: Path) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(path.read_text())]


def promises(block: str) -> list[str]:
    return [line[2:] for line in block.splitlines() if PROMISE.match(line)]


def as_pattern(promise: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in promise.split("…")))


def test_the_promise_syntax_is_understood() -> None:
    assert as_pattern('{"a":"x_…","b":1}').fullmatch('{"a":"x_123","b":1}')
    assert not as_pattern('{"a":"x_…","b":1}').fullmatch('{"a":"x_123","b":2}')
    block = 'curl x\n# {"code":0}\n# a comment\n# event: done\n'
    assert promises(block) == ['{"code":0}', "event: done"]
    assert sh_blocks(ROOT / "README.md"), "the README has no sh block"


def test_every_sh_block_runs_as_written(tmp_path: Path) -> None:
    blocks = [(path.relative_to(ROOT), block) for path in DOCUMENTS for block in sh_blocks(path)]
    script = ["set -euo pipefail"]
    for index, (_, block) in enumerate(blocks):
        script += [
            f"printf '\\n::block {index}::\\n'",
            block.replace("localhost:8000", "localhost:$RIADEX_PORT"),
        ]
    script.append("printf '\\n::end::\\n'")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    with running_stack(tmp_path / "data") as stack:
        env = {**os.environ, "RIADEX_PORT": str(stack.port)}
        try:
            done = subprocess.run(
                ["bash", "-c", "\n".join(script)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=HANG_S,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"the blocks did not finish in {HANG_S} s; output so far:\n{exc.stdout}")
    out = done.stdout
    parts = re.split(r"^::block (\d+)::$", out, flags=re.MULTILINE)
    printed = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    last = max(printed, default=-1)
    where = f"{blocks[last][0]} block {last + 1}" if last >= 0 else "before the first block"
    assert done.returncode == 0, (
        f"exit {done.returncode} in {where}:\n{blocks[last][1] if last >= 0 else ''}\n"
        f"--- stdout:\n{printed.get(last, out)}\n--- stderr:\n{done.stderr}\n--- server:\n"
        + "".join(stack.output[-40:])
    )
    assert "::end::" in out
    for index, (path, block) in enumerate(blocks):
        shown = printed[index].replace("::end::", "")
        lines = shown.splitlines()
        for promise in promises(block):
            pattern = as_pattern(promise)
            assert any(pattern.search(line) for line in lines), (
                f"{path} block {index + 1} promises {promise!r}; it printed:\n{shown}"
            )

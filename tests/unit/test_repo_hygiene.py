"""The repository speaks for itself: no pointer to documents its readers do not have, and requirement
files without duplicates."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Outside documents that used to be cited: the repo's own contract is docs/api.md.
FOREIGN = re.compile(r"SPEC\.md|SPEC §|SPEC section|DESIGN\.md")


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [ROOT / line for line in out.splitlines() if line and (ROOT / line).is_file()]


def test_no_file_cites_the_outside_contract() -> None:
    offenders = []
    for path in tracked_files():
        if path == Path(__file__).resolve():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if FOREIGN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "cite docs/ instead:\n" + "\n".join(offenders)


def test_docs_exist_and_are_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in ("api.md", "architecture.md", "extending.md"):
        assert (ROOT / "docs" / name).is_file(), name
        assert f"docs/{name}" in readme, f"README does not link docs/{name}"


def _pins(path: Path) -> list[tuple[str, str, Path]]:
    """(name, pin, file) for each package line of a requirements file and the files it includes."""
    pins = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            pins += _pins(path.parent / line[2:].strip())
            continue
        name = re.split(r"[\[=<>!~; ]", line, maxsplit=1)[0].lower().replace("_", "-")
        pins.append((name, line, path))
    return pins


@pytest.mark.parametrize(
    "top", ["requirements.txt", "layers/core/requirements.txt", "layers/llm/requirements.txt"]
)
def test_each_package_is_listed_once_with_one_pin(top: str) -> None:
    """A file lists a package once, never again what a file it includes already pins, and the tree it
    installs never pins one package two ways. (Deployables of their own, like sandbox-image/ and the
    core layer, may each pin the same package.)"""
    pins = _pins(ROOT / top)
    own = [name for name, _, path in pins if path == ROOT / top]
    included = {name for name, _, path in pins if path != ROOT / top}
    repeated = sorted({n for n in own if own.count(n) > 1} | (set(own) & included))
    assert not repeated, f"{top} lists again: {repeated}"
    by_name: dict[str, set[str]] = {}
    for name, line, _ in pins:
        by_name.setdefault(name, set()).add(line.replace(" ", ""))
    conflicting = {name: lines for name, lines in by_name.items() if len(lines) > 1}
    assert not conflicting, f"{top} installs conflicting pins: {conflicting}"

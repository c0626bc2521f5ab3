"""The repository speaks for itself: no pointer to documents its readers do not have, and requirement
files without duplicates."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

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

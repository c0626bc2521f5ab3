"""The checkov baseline (.checkov.yaml, run by `make deploy-check`) says why each skipped check does
not apply: every skip sits under a comment, and checks the same template."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_skipped_check_has_its_reason() -> None:
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    skips = 0
    reason: list[str] = []
    previous_was_skip = False
    for line in lines[start + 1 :]:
        text = line.strip()
        if text.startswith("#"):
            if previous_was_skip:
                reason = []  # a new group's reason starts
            reason.append(text)
            previous_was_skip = False
        elif text.startswith("- CKV"):
            assert reason, f"{text} has no reason above it"
            assert len(" ".join(reason)) > 60, f"{text}: the reason is too short to say why"
            skips += 1
            previous_was_skip = True
        elif text:
            break
    assert 0 < skips <= 15
    assert "template.yaml" in (ROOT / ".checkov.yaml").read_text()

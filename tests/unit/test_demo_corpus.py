"""The demo corpus is synthetic and reproducible: the same seed gives the same data and PDF bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from riadex.entrypoints.cli.demo import write_corpus

pytest.importorskip("fpdf", reason="pip install fpdf2 (requirements.txt)")


def test_same_seed_same_bytes_and_another_seed_other_people(tmp_path: Path) -> None:
    people, files = write_corpus(tmp_path / "a", 4, seed=11)
    _, again = write_corpus(tmp_path / "b", 4, seed=11)
    assert [f.name for f in files] == [f.name for f in again]
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in again]
    others, _ = write_corpus(tmp_path / "c", 4, seed=12)
    assert [p.name for p in people] != [p.name for p in others]

    data = json.loads((tmp_path / "a" / "candidates.json").read_text())
    assert [d["name"] for d in data] == [p.name for p in people]
    assert len({p.name for p in people}) == 4
    for person, pdf in zip(people, files[1:], strict=True):
        assert pdf.name == person.file_name
        assert pdf.read_bytes().startswith(b"%PDF-")

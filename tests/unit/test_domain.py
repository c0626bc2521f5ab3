from __future__ import annotations

import pytest

from riadex.domain import ids
from riadex.domain.models import TERMINAL_RUN_STATUSES, RunStatus, iso, utcnow


class TestRunStatus:
    def test_terminal_statuses_lead_nowhere(self) -> None:
        for status in TERMINAL_RUN_STATUSES:
            assert status.is_terminal
            assert not any(status.can_become(target) for target in RunStatus)

    @pytest.mark.parametrize(
        ("source", "target"),
        [
            (RunStatus.QUEUED, RunStatus.RUNNING),
            (RunStatus.QUEUED, RunStatus.CANCELLED),
            (RunStatus.RUNNING, RunStatus.WAITING),
            (RunStatus.WAITING, RunStatus.RUNNING),
            (RunStatus.RUNNING, RunStatus.CANCELLING),
            (RunStatus.CANCELLING, RunStatus.CANCELLED),
            (RunStatus.RUNNING, RunStatus.COMPLETED),
        ],
    )
    def test_allowed(self, source: RunStatus, target: RunStatus) -> None:
        assert source.can_become(target)

    @pytest.mark.parametrize(
        ("source", "target"),
        [
            (RunStatus.QUEUED, RunStatus.WAITING),
            (RunStatus.RUNNING, RunStatus.CANCELLED),  # always through cancelling
            (RunStatus.CANCELLING, RunStatus.RUNNING),
            (RunStatus.QUEUED, RunStatus.COMPLETED),
        ],
    )
    def test_refused(self, source: RunStatus, target: RunStatus) -> None:
        assert not source.can_become(target)


class TestIds:
    def test_new_ids_are_valid_for_their_prefix_only(self) -> None:
        value = ids.new_id("ses")
        assert ids.is_valid(value, "ses")
        assert not ids.is_valid(value, "usr")

    @pytest.mark.parametrize(
        "value", ["", "ses_", "ses_XYZ", "ses_" + "0" * 31, "../etc/passwd", "ses_" + "a" * 33]
    )
    def test_malformed(self, value: str) -> None:
        assert not ids.is_valid(value, "ses")

    def test_ids_do_not_repeat(self) -> None:
        assert len({ids.new_id("run") for _ in range(1000)}) == 1000


def test_iso_sorts_like_time() -> None:
    first = utcnow()
    second = utcnow()
    assert iso(first) <= iso(second)
    assert iso(first).endswith("Z")

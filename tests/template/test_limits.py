"""Limits: the payloads the scenarios sent across Lambda (6 MB), Step Functions (256 KB) and API Gateway
(10 MB body, 29 s for a non-streaming integration) stay under them; the largest seen are printed."""

from __future__ import annotations

from tests.template.analysis import human, limits
from tests.template.deployed import Deployed
from tests.template.recording import Recording


def test_payloads_stay_under_the_platform_limits(stack: Deployed, recording: Recording) -> None:
    seen = limits(stack, recording)
    for largest in seen:
        print(
            f"largest {largest.boundary}: {human(largest.value, largest.limit)} "
            f"(limit {human(largest.limit, largest.limit)}) at {largest.where}"
        )
    over = [
        f"{s.boundary}: {human(s.value, s.limit)} > {human(s.limit, s.limit)} at {s.where}"
        for s in seen
        if s.over
    ]
    assert not over, "\n".join(over)
    assert any(s.value for s in seen), "the recording holds no payload"

"""Error classification: HTTP status and provider error bodies → the kind the loop acts on."""

from __future__ import annotations

import pytest

from riadex.adapters.llm.errors import from_status
from riadex.application.llm import ModelError, throttled_stop_check


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"error": {"message": "bad key"}}, "auth"),
        (403, {"type": "error", "error": {"type": "permission_error", "message": "no access"}}, "auth"),
        (402, {"error": {"type": "billing_error", "message": "add credit"}}, "auth"),
        (429, {"error": {"code": "insufficient_quota", "message": "quota"}}, "auth"),
        (400, {"error": {"code": "context_length_exceeded", "message": "too long"}}, "context_length"),
        (400, {"error": {"message": "prompt is too long: 300000 tokens > 200000 maximum"}}, "context_length"),
        (413, None, "context_length"),
        (400, {"error": {"message": "messages: field required"}}, "invalid_request"),
        (422, "unprocessable", "invalid_request"),
        (404, {"error": {"message": "model not found"}}, "invalid_request"),
        (408, None, "timeout"),
        (409, None, "server"),
        (429, {"error": {"type": "rate_limit_error", "message": "slow down"}}, "rate_limit"),
        (529, {"error": {"type": "overloaded_error"}}, "overloaded"),
        (
            None,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "overloaded",
        ),
        (None, {"error": {"message": "stream broke"}}, "server"),
        (500, None, "server"),
        (503, "<html>unavailable</html>", "server"),
    ],
)
def test_status_and_body_decide_the_kind(status: int | None, body: object, kind: str) -> None:
    error = from_status("OpenAI", status, body, key_env="OPENAI_API_KEY", model="m")
    assert error.kind == kind
    assert error.retryable == (kind in {"rate_limit", "overloaded", "server", "timeout"})
    assert error.status == status


def test_messages_say_what_to_fix() -> None:
    auth = from_status(
        "Gemini", 403, {"error": {"message": "API key not valid"}}, key_env="GEMINI_API_KEY", model="m"
    )
    assert auth.message == "Gemini rejected the API key (403): check GEMINI_API_KEY: API key not valid"
    missing = from_status("OpenAI", 404, {"error": {"message": "no such model"}}, key_env="K", model="gpt-x")
    assert "check LLM_MODEL" in missing.message
    assert "'gpt-x'" in missing.message
    assert str(missing) == missing.message
    assert "kind='invalid_request'" in repr(missing)


def test_cancelled_is_not_retryable() -> None:
    assert not ModelError("cancelled", "stop").retryable


def test_a_throttled_stop_check_reads_at_most_once_per_interval_and_latches() -> None:
    now = [0.0]
    reads: list[float] = []
    answers = iter([False, False, True])

    def read() -> bool:
        reads.append(now[0])
        return next(answers)

    check = throttled_stop_check(read, every_seconds=1.0, clock=lambda: now[0])
    assert [check() for _ in range(5)] == [False] * 5
    now[0] = 1.0
    assert check() is False
    now[0] = 2.5
    assert check() is True
    now[0] = 2.6
    assert check() is True
    assert reads == [0.0, 1.0, 2.5]


def test_a_stop_check_made_just_after_a_read_waits_an_interval_first() -> None:
    now = [0.0]
    reads: list[float] = []

    def read() -> bool:
        reads.append(now[0])
        return False

    check = throttled_stop_check(read, every_seconds=1.0, clock=lambda: now[0], just_checked=True)
    assert check() is False
    now[0] = 0.9
    assert check() is False
    now[0] = 1.0
    assert check() is False
    assert reads == [1.0]

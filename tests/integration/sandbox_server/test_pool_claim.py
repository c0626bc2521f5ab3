"""A pooled tool server (a warm Fargate task nobody owns yet): started with only its pool token's
digest, it refuses tool calls until a claim installs the session's secret, and the pool token works
once."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.sandbox_server.harness import ToolServer, call, error


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def pooled(tmp_path: Path) -> Iterator[tuple[ToolServer, str]]:
    token = secrets.token_urlsafe(32)
    server = ToolServer(tmp_path / "ws", SANDBOX_SECRET="", SANDBOX_POOL_TOKEN_SHA256=sha256(token))
    server.secret = ""  # it has none until claimed
    server.start()
    yield server, token
    server.stop()


def test_an_unclaimed_server_answers_health_and_claim_only(pooled: tuple[ToolServer, str]) -> None:
    server, token = pooled
    with server.client(secret=token) as pool:
        assert pool.get("/health").json()["data"]["status"] == "ok"
        assert error(pool, "/shell/exec", session_id="s", command="echo no") == (403, "unclaimed")
        assert error(pool, "/file/write", file="x", content="x") == (403, "unclaimed")
        assert pool.get("/workspace/stamp").status_code == 403
    assert not (server.workspace / "x").exists()
    with server.client(secret="some-session-secret-0123456789") as stranger:
        assert error(stranger, "/shell/exec", session_id="s", command="echo no") == (401, "unauthorized")
        assert error(stranger, "/claim", secret_sha256=sha256("x" * 32)) == (401, "unauthorized")


def test_the_claim_installs_the_secret_and_the_pool_token_is_single_use(
    pooled: tuple[ToolServer, str],
) -> None:
    server, token = pooled
    secret = secrets.token_urlsafe(32)
    with server.client(secret=token) as pool:
        assert error(pool, "/claim", secret_sha256="not-a-digest") == (400, "invalid_input")
        assert call(pool, "/claim", secret_sha256=sha256(secret)) == {"claimed": True}
        # The pool token opens nothing any more: not a second claim, not even health.
        again = error(pool, "/claim", secret_sha256=sha256("an attacker's secret 0123"))
        assert again == (401, "unauthorized")
        assert pool.get("/health").status_code == 401
    with server.client(secret=secret) as owner:
        assert call(owner, "/shell/exec", session_id="s", command="echo mine")["output"].strip() == "mine"
        assert error(owner, "/claim", secret_sha256=sha256("other secret 0123456789")) == (
            409,
            "already_claimed",
        )
        assert call(owner, "/shell/exec", session_id="s", command="echo still")["output"].strip() == "still"


def test_concurrent_claims_with_the_pool_token_one_wins(pooled: tuple[ToolServer, str]) -> None:
    server, token = pooled
    contenders = [secrets.token_urlsafe(32) for _ in range(8)]
    statuses: dict[str, int] = {}
    go = threading.Barrier(len(contenders))

    def claim(secret: str) -> None:
        go.wait()
        response = httpx.post(
            f"{server.url}/claim",
            json={"secret_sha256": sha256(secret)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        statuses[secret] = response.status_code

    threads = [threading.Thread(target=claim, args=(s,)) for s in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [s for s, status in statuses.items() if status == 200]
    assert len(winners) == 1, statuses
    # A loser is refused either way: 401 once the pool token is gone, or 409 (already_claimed) when
    # its token was checked before the winner's claim landed and its claim came after.
    assert len(statuses) == len(contenders)
    assert {status for s, status in statuses.items() if s not in winners} <= {401, 409}, statuses
    for secret in contenders:
        expected = 200 if secret in winners else 401
        with server.client(secret=secret) as client:
            assert client.get("/health").status_code == expected


def test_the_pool_tokens_health_checks_keep_an_unclaimed_server_alive(tmp_path: Path) -> None:
    """The pool's keeper renews the lease with health checks; without them it stops by itself."""
    token = secrets.token_urlsafe(32)
    server = ToolServer(
        tmp_path / "ws", SANDBOX_SECRET="", SANDBOX_POOL_TOKEN_SHA256=sha256(token), SANDBOX_IDLE_TIMEOUT="2"
    ).start()
    try:
        assert server.process is not None
        with server.client(secret=token) as pool:
            renewed_until = time.monotonic() + 4
            while time.monotonic() < renewed_until:
                assert pool.get("/health").status_code == 200
                time.sleep(0.3)
            assert server.process.poll() is None, server.log()
        assert server.process.wait(30) == 0, server.log()
    finally:
        server.stop()


@pytest.mark.parametrize(
    "extra",
    [{"SANDBOX_SECRET": "a-secret-of-enough-length"}, {"SANDBOX_SECRET_SHA256": sha256("x")}],
)
def test_a_pooled_server_refuses_a_secret_at_start(tmp_path: Path, extra: dict[str, str]) -> None:
    env = {"SANDBOX_SECRET": "", "SANDBOX_POOL_TOKEN_SHA256": sha256("pool token"), **extra}
    server = ToolServer(tmp_path / "ws", **env)
    with pytest.raises(RuntimeError, match="did not start"):
        server.start(timeout=20)
    assert "gets its secret at claim time" in server.log()

"""Settings read once from the environment, so every module sees the same validated values."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox_server import identity


class ConfigError(ValueError):
    """The environment cannot start a server (missing secret, malformed number)."""


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


SECRET_SOURCES = ("SANDBOX_SECRET_FD", "SANDBOX_SECRET_FILE", "SANDBOX_SECRET")


def _hex_digest(env: Mapping[str, str], name: str) -> bytes | None:
    """A SHA-256 given as 64 hex characters; None when the variable is unset or empty."""
    hashed = env.get(name, "").strip().lower()
    if not hashed:
        return None
    if len(hashed) != 64 or any(c not in "0123456789abcdef" for c in hashed):
        raise ConfigError(f"{name} must be 64 hex characters")
    return bytes.fromhex(hashed)


def _read_secret(env: Mapping[str, str]) -> str:
    """The bearer secret, from (in order) SANDBOX_SECRET_FD — a pipe or file descriptor, read to its
    end and closed —, SANDBOX_SECRET_FILE — read, then deleted when possible —, or SANDBOX_SECRET.
    The two first keep it out of every environment and command line."""
    fd = env.get("SANDBOX_SECRET_FD")
    if fd:
        if not fd.isdigit():
            raise ConfigError(f"SANDBOX_SECRET_FD must be a file descriptor number, got {fd!r}")
        chunks = []
        try:
            while chunk := os.read(int(fd), 4096):
                chunks.append(chunk)
            os.close(int(fd))
        except OSError as exc:
            raise ConfigError(f"SANDBOX_SECRET_FD={fd}: {exc.strerror}") from exc
        return b"".join(chunks).decode().strip()
    path = env.get("SANDBOX_SECRET_FILE")
    if path:
        try:
            secret = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"SANDBOX_SECRET_FILE={path}: {exc.strerror}") from exc
        with contextlib.suppress(OSError):
            Path(path).unlink()
        return secret
    return env.get("SANDBOX_SECRET", "")


@dataclass(frozen=True)
class Config:
    secret_digest: bytes | None = field(repr=False)
    """SHA-256 of the bearer secret: the server never keeps the secret itself. None: pooled (below)."""
    pool_digest: bytes | None = field(default=None, repr=False)
    """SANDBOX_POOL_TOKEN_SHA256: a pooled server, started before anyone owns it; `POST /claim` with
    the pool token installs the session's secret (auth.py)."""
    host: str = "0.0.0.0"
    port: int = 8080
    workspace: Path = Path("/workspace")
    idle_timeout: float = 1800.0
    browser: bool = True
    vnc: bool = False
    chromium: str = "/usr/bin/chromium"
    max_output: int = 64 * 1024
    max_upload: int = 100 * 1024 * 1024
    vnc_port: int = 0
    screen: str = "1280x1024x24"
    socket: str | None = None
    """SANDBOX_SOCKET: listen on this unix socket instead of SANDBOX_HOST:SANDBOX_PORT (the process
    backend's jail, whose only way in is a bind-mounted directory)."""
    run_as: tuple[int, int] | None = None
    """SANDBOX_RUN_AS=uid:gid: the agent's user, when the server runs as another (see identity.py)."""

    @property
    def screen_size(self) -> tuple[int, int]:
        width, height, *_ = self.screen.split("x")
        return int(width), int(height)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        hashed = env.get("SANDBOX_SECRET_SHA256", "").strip().lower()
        pool_digest = _hex_digest(env, "SANDBOX_POOL_TOKEN_SHA256")
        secret_digest: bytes | None
        if pool_digest is not None:
            if hashed or any(env.get(name) for name in SECRET_SOURCES):
                raise ConfigError("a pooled server (SANDBOX_POOL_TOKEN_SHA256) gets its secret at claim time")
            secret_digest = None
        elif hashed:
            # Only the digest travels (a container override anyone who may describe the task can read):
            # it lets the server check the secret and nobody use it.
            secret_digest = _hex_digest(env, "SANDBOX_SECRET_SHA256")
        else:
            secret = _read_secret(env)
            if len(secret) < 16:
                raise ConfigError("SANDBOX_SECRET must be set (at least 16 characters)")
            secret_digest = digest(secret)
        screen = env.get("SANDBOX_SCREEN") or cls.screen
        parts = screen.split("x")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ConfigError(f"SANDBOX_SCREEN must look like 1280x1024x24, got {screen!r}")
        workspace = Path(env.get("SANDBOX_WORKSPACE") or "/workspace")
        try:
            run_as = identity.parse(env.get("SANDBOX_RUN_AS"))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(
            secret_digest=secret_digest,
            pool_digest=pool_digest,
            run_as=run_as,
            socket=env.get("SANDBOX_SOCKET") or None,
            host=env.get("SANDBOX_HOST") or "0.0.0.0",
            port=int(_number(env, "SANDBOX_PORT", 8080)),
            workspace=Path(os.path.realpath(workspace)),
            idle_timeout=_number(env, "SANDBOX_IDLE_TIMEOUT", 1800.0),
            browser=_flag(env, "SANDBOX_BROWSER", True),
            vnc=_flag(env, "SANDBOX_VNC", False),
            chromium=env.get("SANDBOX_CHROMIUM") or "/usr/bin/chromium",
            max_output=int(_number(env, "SANDBOX_MAX_OUTPUT", 64 * 1024, minimum=256)),
            max_upload=int(_number(env, "SANDBOX_MAX_UPLOAD", 100 * 1024 * 1024, minimum=1)),
            vnc_port=int(_number(env, "SANDBOX_VNC_PORT", 0)),
            screen=screen,
        )

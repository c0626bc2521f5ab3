"""A session's sandbox: where it runs, how to reach it, and the states its record goes through.

One sandbox per session at a time. Its record lives with the session; `sandbox_id` is ours (minted
before the backend starts anything, so a conditional write can claim the slot first) while `ref` is the
backend's own name for it (a pid, a container id, an ECS task ARN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class SandboxStatus(StrEnum):
    PROVISIONING = "provisioning"
    READY = "ready"
    LOST = "lost"
    RELEASED = "released"

    @property
    def is_live(self) -> bool:
        """A sandbox in these states may still be running and holds the session's slot."""
        return self in (SandboxStatus.PROVISIONING, SandboxStatus.READY)


@dataclass(frozen=True)
class SandboxHandle:
    """Everything needed to talk to a running sandbox's tool server, and to stop it."""

    backend: str
    sandbox_id: str
    endpoint: str
    secret: str
    ref: str

    def __repr__(self) -> str:  # the secret never reaches a log line through repr
        return f"SandboxHandle(backend={self.backend!r}, sandbox_id={self.sandbox_id!r}, ref={self.ref!r})"


@dataclass(frozen=True)
class SandboxRecord:
    """What the session item says about its sandbox. `handle` is set once the sandbox is ready."""

    session_id: str
    owner_id: str
    sandbox_id: str
    backend: str
    status: SandboxStatus
    claimed_at: datetime
    last_used_at: datetime
    handle: SandboxHandle | None = None


@dataclass(frozen=True)
class PoolEntry:
    """A pre-started sandbox nobody owns yet (a warm pool's member). It was started with a pool token,
    not a secret; the session that takes it gives it its secret (the tool server's `/claim`).

    `ref` is None between the slot's reservation and the backend's start (a crash there leaves a slot
    the pool's keeper drops); `endpoint` is set once the keeper saw it answer."""

    pool_id: str
    started_at: datetime
    ref: str | None = None
    endpoint: str | None = None
    token: str | None = field(default=None, repr=False)
    """The pool token, when the store keeps it inline; else `token_ref` names where it is."""
    token_ref: str | None = None

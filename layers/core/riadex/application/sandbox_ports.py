"""What the sandbox use cases need from the outside: a backend that runs sandboxes, the session item's
record of its sandbox, a way to call the tool server, and a sink for `sandbox` events.

Kept apart from ports.py because this half of the system changes for its own reasons (new backends,
new tools) and should not churn the core ports.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from riadex.domain.sandboxes import PoolEntry, SandboxHandle, SandboxRecord, SandboxStatus

if TYPE_CHECKING:
    from riadex.application.files import ObjectInfo


class SandboxUnreachable(Exception):
    """The tool server did not answer at all (connection refused or reset): the sandbox is gone.

    Adapters raise it; the use cases turn it into a `lost` sandbox and a retryable error.
    """


class SandboxHung(SandboxUnreachable):
    """The tool server took the call and did not answer it in time: the sandbox is stuck (a process
    stopped, a call blocked for good). The use cases replace it and fail the call rather than run it
    again: a command that hung may have done part of its work."""


class SandboxProvider(Protocol):
    """One backend (process, docker, fargate). Implementations block until the tool server answers."""

    @property
    def backend(self) -> str: ...

    def acquire(self, sandbox_id: str, session_id: str, owner_id: str) -> SandboxHandle:
        """Start a sandbox and wait until its tool server is healthy; raise Unavailable if it cannot.

        Whatever it started is cleaned up before it raises.
        """
        ...

    def healthy(self, handle: SandboxHandle) -> bool:
        """Whether the sandbox still runs and its tool server answers /health with this secret."""
        ...

    def release(self, handle: SandboxHandle) -> None:
        """Stop the sandbox and free what it holds. Idempotent: releasing a gone sandbox is fine."""
        ...


@runtime_checkable
class SandboxPool(Protocol):
    """A backend that keeps a warm pool of pre-started sandboxes (fargate): the reaper keeps it."""

    def maintain(self) -> dict[str, int]:
        """Drop dead members, stop those above the pool's size, start what is missing; counts by what
        was done (docs/sandboxes.md, "A warm pool")."""
        ...


class SandboxPoolStore(Protocol):
    """Where a warm pool's members are kept. Every change is one conditional write, so a pool never
    holds more than its size and a member is taken (claimed) by one caller only."""

    def entries(self) -> list[PoolEntry]:
        """The members, in no particular order."""
        ...

    def reserve(self, pool_id: str, token: str, now: datetime, size: int) -> PoolEntry | None:
        """Add a member (not started yet) if the pool has fewer than `size`; None when it is full."""
        ...

    def started(self, pool_id: str, ref: str) -> bool:
        """Record the backend's name for a reserved member; False when it left the pool meanwhile."""
        ...

    def answered(self, pool_id: str, endpoint: str) -> None:
        """Record where a member answered (its claim need not look it up)."""
        ...

    def take(self, pool_id: str) -> bool:
        """Remove a member; True for the one caller whose removal it was (the claim)."""
        ...

    def token(self, entry: PoolEntry) -> str:
        """The member's pool token."""
        ...

    def forget(self, entry: PoolEntry) -> None:
        """Delete what the store kept aside for a member that was taken (its token's parameter)."""
        ...


class SandboxRecords(Protocol):
    """The sandbox part of the session item. Every write is conditional on the sandbox id it expects,
    so two callers racing for one session never both start a sandbox, and a stale caller never
    overwrites a newer sandbox's record."""

    def get(self, session_id: str) -> SandboxRecord | None:
        """The session's sandbox record, None when it has none; NotFound when the session is gone."""
        ...

    def claim(self, record: SandboxRecord, expected_sandbox_id: str | None) -> bool:
        """Write `record` (status provisioning) if the session's current sandbox id is the expected one
        (None: the session has no sandbox yet). False when another caller got there first."""
        ...

    def mark_ready(self, session_id: str, handle: SandboxHandle, now: datetime) -> bool:
        """provisioning → ready with the handle; False if the record moved on (or the session went)."""
        ...

    def set_status(
        self,
        session_id: str,
        sandbox_id: str,
        status: SandboxStatus,
        *,
        only_from: SandboxStatus | None = None,
        last_used_at: datetime | None = None,
    ) -> bool:
        """Change the status if the record still names `sandbox_id` (and is in `only_from`, and was last
        used at exactly `last_used_at`, when given). True when this call made the change."""
        ...

    def touch(self, session_id: str, sandbox_id: str, now: datetime) -> None:
        """Record a use; silently nothing when the record has moved on to another sandbox."""
        ...

    def idle(self, before: datetime) -> list[SandboxRecord]:
        """Ready sandboxes last used before `before` (the reaper's work list)."""
        ...


class SandboxEvents(Protocol):
    """Where `sandbox{"status","backend"}` events go (docs/api.md): the session's event log."""

    def emit(
        self,
        session_id: str,
        sandbox_id: str,
        status: SandboxStatus,
        backend: str,
        run_id: str | None = None,
        workspace: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> None:
        """One `sandbox` event; `run_id` when a run's tool use caused it (None: views, uploads, reaper);
        `workspace` what happened to the workspace with it; `key` when it is not the status's only one."""
        ...


class ToolGateway(Protocol):
    """Calls into a sandbox's tool server. Raises SandboxUnreachable when it does not answer, NotFound
    or InvalidInput for what the tool server refused, Unavailable for its internal errors."""

    def call(self, handle: SandboxHandle, function: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one tool function (e.g. "shell_exec", "file_read") and return the server's data."""
        ...

    def upload(self, handle: SandboxHandle, path: str, name: str, data: bytes) -> dict[str, Any]:
        """Place bytes at `path` in the sandbox (relative paths resolve against its workspace)."""
        ...

    def download(self, handle: SandboxHandle, path: str) -> bytes:
        """The bytes of a file in the sandbox; NotFound when there is none."""
        ...


class WorkspaceTransfer(Protocol):
    """The tool server's workspace as one archive (riadex.application.workspaces)."""

    def stamp(self, handle: SandboxHandle) -> dict[str, Any]:
        """{"stamp", "bytes", "files"}: changes whenever the workspace does."""
        ...

    def archive(self, handle: SandboxHandle, max_bytes: int) -> tuple[bytes, str, int]:
        """(.tar.gz bytes, the stamp it was made at, the workspace's bytes); TooLarge above max_bytes."""
        ...

    def restore(self, handle: SandboxHandle, data: bytes) -> dict[str, Any]: ...


class WorkspaceBlobs(Protocol):
    """Where saved workspaces live (S3)."""

    def put(
        self, key: str, data: bytes, content_type: str, metadata: dict[str, str] | None = None
    ) -> None: ...

    def get(self, key: str) -> bytes: ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def delete(self, keys: list[str]) -> None: ...

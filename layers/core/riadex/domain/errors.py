"""Errors the use cases raise; the HTTP layer maps each kind to one status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a client may see: its message is safe to show.

    `retryable` is the one way to say "trying again later may work": the task entrypoints turn it into
    the state machine's `TransientError` (retried with backoff), the HTTP layer into a 503."""

    retryable: bool = False

    def __init__(self, message: str, details: Any = None, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if retryable is not None:
            self.retryable = retryable


class InvalidInput(DomainError):
    """The request is well-formed but its values are not acceptable."""


class InvalidValue(InvalidInput):
    """A field of a parsed body has a wrong value (422, as a schema error is): docs/api.md."""


class NotFound(DomainError):
    """Absent, or owned by someone else: the two are never told apart."""


class Conflict(DomainError):
    """The resource is in a state that forbids the request (e.g. a run is already active)."""


class Unauthorized(DomainError):
    """No credentials, or credentials that do not verify."""


class TooLarge(DomainError):
    """A payload over a configured size limit (413)."""


class SessionBusy(Conflict):
    """The session already has an active run; its id travels in the details (docs/api.md)."""

    def __init__(self, active_run_id: str | None) -> None:
        super().__init__("the session already has an active run", {"active_run_id": active_run_id})
        self.active_run_id = active_run_id


class TakenOver(Conflict):
    """The user has taken the session's sandbox over: a message waits for the resume (docs/api.md)."""

    def __init__(self) -> None:
        super().__init__(
            "you have taken over this session's sandbox: hand it back with POST /sessions/{sid}/resume "
            "first, then send the message",
            {"takeover": True},
        )


class QuotaExceeded(DomainError):
    """A per-user quota is used up (429); `retry_after` says in how many seconds to try again."""

    def __init__(self, message: str, quota: str, limit: int, retry_after: int) -> None:
        super().__init__(message, {"quota": quota, "limit": limit, "retry_after": retry_after})
        self.retry_after = retry_after


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came back with a different body (422)."""


class RunNotOpen(Conflict):
    """A write meant for an open run found it finished or being cancelled: the write did not happen."""


class AlreadyExists(Conflict):
    """A create found its id taken."""


class UnsupportedType(DomainError):
    """The payload's content type is not accepted (HTTP 415)."""


class Unavailable(DomainError):
    """A dependency (the session's sandbox) cannot serve the request now (503). When `retryable`, the
    details say so too, for the client."""

    def __init__(self, message: str, details: Any = None, *, retryable: bool = False) -> None:
        if retryable:
            details = {**(details if isinstance(details, dict) else {}), "retryable": True}
        super().__init__(message, details, retryable=retryable)


class StorageUnavailable(Unavailable):
    """The database failed or throttled a request (the adapters translate their driver's errors)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"storage unavailable: {message}", retryable=True)

"""Errors the use cases raise; the HTTP layer maps each kind to one status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a client may see: its message is safe to show."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    """The request is well-formed but its values are not acceptable."""


class NotFound(DomainError):
    """Absent, or owned by someone else: the two are never told apart."""


class Conflict(DomainError):
    """The resource is in a state that forbids the request (e.g. a run is already active)."""


class Unauthorized(DomainError):
    """No credentials, or credentials that do not verify."""


class TooLarge(DomainError):
    """The payload is over the size limit for its kind (HTTP 413)."""


class UnsupportedType(DomainError):
    """The payload's content type is not accepted (HTTP 415)."""


class Unavailable(DomainError):
    """A dependency (the session's sandbox) cannot serve the request now; retrying may work (503)."""

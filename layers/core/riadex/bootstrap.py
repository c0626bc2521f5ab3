"""The composition root: settings in, wired adapters out. Every entrypoint starts here."""

from __future__ import annotations

from dataclasses import dataclass

from riadex.adapters.auth.tokens import HS256Tokens
from riadex.adapters.dynamodb import tables
from riadex.adapters.dynamodb.repositories import (
    DynamoEventLog,
    DynamoSessionRepository,
    DynamoUserRepository,
)
from riadex.application.ports import EventLog, SessionRepository, UserRepository
from riadex.config import Settings, get_settings


@dataclass(frozen=True)
class Container:
    settings: Settings
    users: UserRepository
    sessions: SessionRepository
    events: EventLog
    tokens: HS256Tokens | None
    """Set in local auth mode only; in cognito mode API Gateway verifies identities."""


def bootstrap(settings: Settings | None = None) -> Container:
    settings = settings or get_settings()
    tables.bind(
        users=settings.users_table,
        sessions=settings.sessions_table,
        runs=settings.runs_table,
        events=settings.events_table,
        region=settings.aws_region,
        endpoint=settings.dynamodb_endpoint,
    )
    tokens = (
        HS256Tokens(settings.resolved_auth_secret(), settings.auth_token_ttl_seconds)
        if settings.auth_mode == "local"
        else None
    )
    return Container(
        settings=settings,
        users=DynamoUserRepository(),
        sessions=DynamoSessionRepository(),
        events=DynamoEventLog(),
        tokens=tokens,
    )

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
from riadex.adapters.dynamodb.runs import DynamoRunRepository
from riadex.adapters.stepfunctions.workflow import StepFunctionsWorkflow
from riadex.adapters.storage.s3 import S3ObjectStore
from riadex.application.ports import (
    EventLog,
    ObjectStore,
    RunRepository,
    SessionRepository,
    UserRepository,
    Workflow,
)
from riadex.application.runs import RunLimits, RunService
from riadex.config import Settings, get_settings


@dataclass(frozen=True)
class Container:
    settings: Settings
    users: UserRepository
    sessions: SessionRepository
    events: EventLog
    tokens: HS256Tokens | None
    """Set in local auth mode only; in cognito mode API Gateway verifies identities."""
    runs: RunRepository
    workflow: Workflow
    objects: ObjectStore

    @property
    def run_service(self) -> RunService:
        return RunService(
            self.sessions,
            self.runs,
            self.events,
            self.workflow,
            self.objects,
            RunLimits(
                max_message_chars=self.settings.max_message_chars,
                inline_output_chars=self.settings.inline_output_chars,
            ),
        )


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
        events=DynamoEventLog(settings.event_retention_days),
        tokens=tokens,
        runs=DynamoRunRepository(),
        workflow=StepFunctionsWorkflow(settings.state_machine_arn, settings.aws_region),
        objects=S3ObjectStore(settings.objects_bucket, settings.aws_region),
    )

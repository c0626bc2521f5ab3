"""The composition root: settings in, wired adapters out. Every entrypoint starts here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from riadex.adapters import call_record
from riadex.adapters.auth.tokens import HS256Tokens
from riadex.adapters.auth.vnc_tokens import VncTokens
from riadex.adapters.aws_clients import lazy_client
from riadex.adapters.dynamodb import tables
from riadex.adapters.dynamodb.conversations import DynamoConversationStore
from riadex.adapters.dynamodb.files import DynamoFileRepository
from riadex.adapters.dynamodb.repositories import (
    DynamoEventLog,
    DynamoSessionRepository,
    DynamoUserRepository,
)
from riadex.adapters.dynamodb.runs import DynamoRunRepository
from riadex.adapters.dynamodb.sandbox_records import DynamoSandboxRecords, InlineSecrets, SsmSecrets
from riadex.adapters.sandbox.factory import build_provider
from riadex.adapters.stepfunctions.workflow import StepFunctionsWorkflow
from riadex.adapters.storage.s3 import S3ObjectStore
from riadex.adapters.tools.gateway import HttpToolGateway, HttpWorkspaceTransfer
from riadex.application.agent_loop import AgentLoop, LoopLimits, LoopPorts
from riadex.application.agent_model import AgentModel
from riadex.application.append_bell import AppendBell, RingingEventLog
from riadex.application.files import FileRepository, FileStore, UploadPolicy, place_pending
from riadex.application.ports import (
    EventLog,
    ObjectStore,
    RunRepository,
    SessionRepository,
    UserRepository,
    Workflow,
)
from riadex.application.quotas import QuotaLimits, Quotas
from riadex.application.run_events import RunEvents
from riadex.application.runs import RunLimits, RunService
from riadex.application.sandbox_ports import SandboxProvider
from riadex.application.sandboxes import EventLogSandboxEvents, Sandboxes
from riadex.application.screenshots import Screenshots
from riadex.application.takeovers import Takeovers
from riadex.application.tool_catalog import CONTROL_PLANE_TOOLS
from riadex.application.tool_runner import ToolRunner
from riadex.application.workspaces import Workspaces
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
    sandboxes: Sandboxes
    files: FileRepository
    file_store: FileStore
    """The bytes of session files: the same S3 bucket as `objects`, under sessions/<id>/files/."""
    upload_policy: UploadPolicy
    vnc_tokens: VncTokens | None
    """Signs the VNC WebSocket's URL token; set when an HS256 secret is available (local mode)."""
    bell: AppendBell | None = None
    """Set when the writers share this process (the local stack): appends wake streams at once."""

    @cached_property
    def run_events(self) -> RunEvents:
        """The one writer of runs' events, shared by the API's use cases and the loop's tasks."""
        return RunEvents(self.events, self.objects, self.settings.inline_output_chars)

    @cached_property
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
            writer=self.run_events,
            quotas=self.quotas,
        )

    @cached_property
    def takeovers(self) -> Takeovers:
        return Takeovers(
            self.sessions,
            self.runs,
            self.events,
            self.run_events,
            self.workflow,
            self.run_service,
            max_note_chars=self.settings.max_message_chars,
        )

    @cached_property
    def quotas(self) -> Quotas | None:
        settings = self.settings
        limits = QuotaLimits(
            concurrent_runs=settings.quota_concurrent_runs,
            live_sandboxes=settings.quota_live_sandboxes,
            runs_per_day=settings.quota_runs_per_day,
        )
        if not limits.any:
            return None
        from riadex.adapters.dynamodb.quotas import DynamoQuotaStore

        return Quotas(DynamoQuotaStore(), limits, self.runs, self.sessions)

    def agent_loop(self) -> AgentLoop:
        """The loop's use cases (built once); the model is built on first use (only the tasks that call
        it need it)."""
        return self._agent_loop

    @cached_property
    def _agent_loop(self) -> AgentLoop:
        from riadex.adapters.llm.factory import make_agent_model
        from riadex.adapters.search.factory import make_search_provider
        from riadex.adapters.tools.schemas import tool_specs

        settings = self.settings
        sandboxes = self.sandboxes
        tools = ToolRunner(
            lambda: sandboxes,
            lambda: make_search_provider(settings),
            self.runs,
            screenshots=Screenshots(self.file_store),
        )
        models: list[AgentModel] = []

        def model() -> AgentModel:
            if not models:
                models.append(make_agent_model(settings))
            return models[0]

        ports = LoopPorts(
            runs=self.runs,
            sessions=self.sessions,
            log=self.events,
            events=self.run_events,
            workflow=self.workflow,
            ending=self.run_service,
            conversations=DynamoConversationStore(
                S3ObjectStore(settings.objects_bucket, settings.aws_region)
            ),
        )
        return AgentLoop(
            ports,
            model,
            tools,
            [*tool_specs(), *CONTROL_PLANE_TOOLS],
            LoopLimits(
                max_steps=settings.run_max_steps,
                max_tool_calls=settings.run_max_tool_calls,
                max_tokens=settings.run_max_tokens,
                max_seconds=settings.run_max_seconds,
                max_history_events=settings.run_max_history_events,
                context_tokens=settings.llm_context_tokens,
                ask_timeout_seconds=settings.run_ask_timeout_seconds,
                inline_tool_seconds=settings.run_inline_tool_seconds,
            ),
        )

    @property
    def sandbox_provider(self) -> SandboxProvider:
        return self.sandboxes.provider


_RESOURCE_SETTINGS = ("_table", "_bucket", "_arn", "_cluster", "_task_definition", "_secret_prefix")
"""Settings that name a deployed resource (the template sets each from the resource)."""


def bind_tables(settings: Settings) -> None:
    """Point the pynamodb models at the configured table names and DynamoDB endpoint."""
    tables.bind(
        users=settings.users_table,
        sessions=settings.sessions_table,
        runs=settings.runs_table,
        events=settings.events_table,
        files=settings.files_table,
        region=settings.aws_region,
        endpoint=settings.dynamodb_endpoint,
    )


@dataclass
class FunctionEnvironment:
    """What a function's runtime gives the bootstrap it runs (the lazy one of functions/<name>/): in
    Lambda, the settings come from the function's environment variables (`get_settings()`); the local
    stack runs the same handler files in one process and hands each of them its settings and the bell
    its streams wait on (docs/architecture.md, "Locally")."""

    settings: Settings
    bell: AppendBell | None = None
    built: list[Container] = field(default_factory=list)
    """Each container bootstrapped under this environment: one per warm function."""

    def sibling(self) -> FunctionEnvironment:
        """The same settings and bell for another function (which builds its own container)."""
        return FunctionEnvironment(self.settings, self.bell)


_environment: ContextVar[FunctionEnvironment | None] = ContextVar("riadex_function_environment", default=None)


@contextmanager
def function_environment(environment: FunctionEnvironment) -> Iterator[None]:
    """Runs the code inside (a handler module's import, an invocation) in `environment`."""
    token = _environment.set(environment)
    try:
        yield
    finally:
        _environment.reset(token)


def bootstrap(settings: Settings | None = None, *, bell: AppendBell | None = None) -> Container:
    """The container for `settings`; without them, for the function environment this runs in (the
    environment variables in Lambda)."""
    environment = _environment.get() if settings is None else None
    if environment is not None:
        container = bootstrap(environment.settings, bell=bell or environment.bell)
        environment.built.append(container)
        return container
    settings = settings or get_settings()
    if call_record.install():  # RIADEX_CALL_RECORD set: the template tier's recording (tests/template)
        call_record.bindings(
            {
                name.upper(): value
                for name, value in settings.model_dump().items()
                if name.endswith(_RESOURCE_SETTINGS)
            }
        )
    bind_tables(settings)
    tokens = (
        HS256Tokens(settings.resolved_auth_secret(), settings.auth_token_ttl_seconds)
        if settings.auth_mode == "local"
        else None
    )
    events: EventLog = DynamoEventLog(settings.event_retention_days)
    if bell is not None:
        events = RingingEventLog(events, bell)
    objects = S3ObjectStore(settings.objects_bucket, settings.aws_region)
    secrets = (
        SsmSecrets(_client("ssm", settings), settings.sandbox_secret_prefix)
        if settings.sandbox_secret_store == "ssm"  # noqa: S105 - a mode name
        else InlineSecrets()
    )
    sandboxes = Sandboxes(
        records=DynamoSandboxRecords(secrets),
        provider=build_provider(settings, secrets),
        events=EventLogSandboxEvents(events),
        tools=HttpToolGateway(settings.sandbox_tool_timeout),
        provision_timeout_seconds=settings.sandbox_start_timeout * 2,
        workspaces=Workspaces(HttpWorkspaceTransfer(), objects, settings.sandbox_workspace_max_bytes),
    )
    files = DynamoFileRepository()
    tools = sandboxes.tools
    sandboxes.on_ready.append(
        lambda sid, handle: place_pending(sid, handle, files=files, store=objects, tools=tools)
    )
    return Container(
        settings=settings,
        users=DynamoUserRepository(),
        sessions=DynamoSessionRepository(),
        events=events,
        tokens=tokens,
        runs=DynamoRunRepository(),
        workflow=StepFunctionsWorkflow(settings.state_machine_arn, settings.aws_region),
        objects=objects,
        sandboxes=sandboxes,
        files=files,
        file_store=objects,
        upload_policy=UploadPolicy(settings.max_upload_bytes, settings.upload_type_patterns()),
        vnc_tokens=(
            VncTokens(settings.resolved_auth_secret(), settings.vnc_token_ttl_seconds)
            if settings.auth_mode == "local" or settings.auth_secret
            else None
        ),
        bell=bell,
    )


def _client(service: str, settings: Settings) -> Any:
    return lazy_client(service, settings.aws_region)

"""Settings, read once from the environment (and `.env` locally).

The names and their meaning are in docs/api.md, "Configuration"; everything has a default that works
on a laptop with no account and no key.
"""

from __future__ import annotations

import logging
import os
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Auth (docs/api.md): local HS256 tokens or Cognito claims from API Gateway's authorizer.
    auth_mode: Literal["local", "cognito"] = "local"
    auth_secret: str | None = Field(default=None, repr=False)
    auth_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    # The stream routes' Lambda authorizer (AWS): browsers' EventSource cannot send a header, so it
    # verifies Cognito JWTs from `Authorization` or `?access_token=` itself.
    cognito_user_pool_id: str | None = None
    cognito_client_ids: str = ""  # comma-separated app client ids whose tokens are accepted
    cognito_issuer: str | None = None  # default: derived from the region and the user pool id
    cognito_jwks_url: str | None = None  # default: the issuer's /.well-known/jwks.json

    # DynamoDB tables (the template passes the deployed names).
    users_table: str = "riadex-users"
    sessions_table: str = "riadex-sessions"
    runs_table: str = "riadex-runs"
    events_table: str = "riadex-events"
    dynamodb_endpoint: str | None = None
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")

    # CORS: the browser origins allowed to call the API (comma-separated, exact origins such as
    # https://app.example.com, or * for any); empty = no cross-origin access (README: CORS).
    cors_origins: str = ""
    cors_max_age_seconds: int = Field(default=600, ge=0, le=7200)

    # Per-user quotas, enforced when a run starts (429 with Retry-After); 0 = no limit (the local
    # default; the template sets them).
    quota_concurrent_runs: int = Field(default=0, ge=0)
    quota_live_sandboxes: int = Field(default=0, ge=0)
    quota_runs_per_day: int = Field(default=0, ge=0)

    # Request limits.
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    max_title_chars: int = Field(default=200, gt=0)
    event_retention_days: int = Field(default=30, gt=0)

    # Runs, the event log and streams (docs/api.md).
    max_message_chars: int = Field(default=32_000, gt=0)
    inline_output_chars: int = Field(default=16_000, ge=1024)
    objects_bucket: str = "riadex-objects"
    state_machine_arn: str | None = None
    stream_max_seconds: float = Field(default=14 * 60, gt=0)
    """A stream says `reconnect` and closes after this long (the platform cuts streams at 15 min)."""
    stream_ping_seconds: float = Field(default=15, gt=0, le=15)
    stream_poll_fast_seconds: float = Field(default=0.1, gt=0)
    stream_poll_active_max_seconds: float = Field(default=0.5, gt=0)
    stream_poll_idle_max_seconds: float = Field(default=2.0, gt=0)
    # The agent loop's per-run budgets (ended with done{failed|timed_out, reason: "budget: ..."}), the
    # wait for an answer to `message_ask_user`, and the execution history size that starts a continuation.
    run_max_steps: int = Field(default=20, gt=0)
    run_max_tool_calls: int = Field(default=100, gt=0)
    run_max_tokens: int = Field(default=2_000_000, gt=0)
    run_max_seconds: float = Field(default=3600.0, gt=0)
    run_ask_timeout_seconds: int = Field(default=24 * 3600, gt=0)
    run_max_history_events: int = Field(default=20_000, gt=0, le=24_000)
    run_inline_tool_seconds: float = Field(default=60.0, ge=0, le=600)
    """A Think task runs the tools its step asks for itself for this long; what is left goes to Act."""

    # Sandboxes (docs/api.md, "Configuration").
    sandbox_backend: Literal["process", "docker", "fargate"] = "process"
    sandbox_idle_timeout: int = Field(default=1800, gt=0)
    """Seconds without use before the reaper stops a sandbox (its own timer: twice that, a backstop)."""
    sandbox_reap_every: float = Field(default=60.0, gt=0)
    sandbox_start_timeout: float = Field(default=60.0, gt=0)
    sandbox_tool_timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a tool call may go unanswered (a call with its own limit, a command's `timeout`, gets
    that limit and 15 s more when longer); past it the sandbox counts as hung: the call fails and the
    sandbox is replaced."""
    sandbox_memory_mb: int = Field(default=1024, gt=0)
    sandbox_pids_max: int = Field(default=512, gt=0)
    """Processes and threads together (a cgroup counts both); Chromium alone runs ~100 threads."""
    sandbox_cpus: float = Field(default=1.0, gt=0)
    sandbox_browser: bool = True
    """The tool server starts Chromium lazily, on the first browser call."""
    sandbox_vnc: bool = False
    sandbox_port: int = Field(default=8080, gt=0, le=65535)
    sandbox_server_dir: Path | None = None
    sandbox_python: str | None = None
    sandbox_jail: Literal["auto", "bwrap", "none"] = "auto"
    sandbox_network: Literal["internet", "none", "host"] = "internet"
    """internet: public addresses and DNS, never the host or private ranges; none; host: the host's
    network, its loopback services included (an explicit opt-in). See docs/sandboxes.md."""
    sandbox_allow_hosts: str = ""
    """Exceptions to `internet`'s block list, comma-separated: host:PORT, ADDRESS[:PORT], CIDR[:PORT]."""
    sandbox_workspace_max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    """A workspace above this is not saved (the last save that fitted stays; a `sandbox` event says so)."""
    sandbox_image: str = "riadex-sandbox:dev"
    sandbox_publish_host: str = "127.0.0.1"
    """The docker backend publishes a sandbox's tool port on this host address and reaches it there."""
    sandbox_cluster: str = "riadex-sandboxes"
    sandbox_task_definition: str = "riadex-sandbox"
    sandbox_container_name: str = "sandbox"
    sandbox_subnets: str = ""
    sandbox_security_groups: str = ""
    sandbox_pool_size: int = Field(default=0, ge=0, le=100)
    """fargate: tasks kept started ahead, owned by nobody, for a session's first acquire to claim (0: off;
    each pooled task is billed while it waits). docs/sandboxes.md, "A warm pool"."""
    sandbox_secret_store: Literal["inline", "ssm"] = "inline"  # noqa: S105 - a mode, not a secret
    sandbox_secret_prefix: str = "/riadex/sandboxes"  # noqa: S105 - an SSM path, not a secret
    vnc_token_ttl_seconds: int = Field(default=60, gt=0, le=600)

    # Files (uploads into sessions).
    files_table: str = "riadex-files"
    """The bytes go to OBJECTS_BUCKET, under sessions/<session id>/files/."""
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    inline_upload_max_bytes: int | None = Field(default=None, gt=0)
    """The cap of a multipart upload through the API (AWS: Lambda's 6 MB payload, base64-encoded, so
    ~4 MiB); larger files go through POST /sessions/{id}/uploads (a presigned POST to S3)."""
    download_redirect_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    """Downloads larger than this answer 307 to a presigned GET (Lambda's 6 MB response limit)."""
    presign_expires_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    upload_starts_sandbox: bool = True
    """False where sandboxes start slowly (Fargate): an upload then waits for the sandbox instead."""
    upload_content_types: str = (
        "text/*,image/*,application/pdf,application/json,application/xml,application/zip,"
        "application/gzip,application/x-tar,application/octet-stream,application/x-yaml,"
        "application/vnd.openxmlformats-officedocument.*,application/msword,application/vnd.ms-excel"
    )

    # Local stack.
    port: int = Field(default=8000, ge=0, le=65535)
    host: str = "127.0.0.1"
    data_dir: Path = Field(default=Path(".riadex"), alias="RIADEX_DATA_DIR")
    # How often the local stack checks whether its journal is due a compacting snapshot (one is also
    # written on shutdown); 0 = only on shutdown.
    snapshot_interval_seconds: float = Field(default=30.0, ge=0)
    # `sam local start-lambda` (http://127.0.0.1:3001): the state machine's tasks run there, in the built
    # functions, instead of in this process (riadex.entrypoints.local.sam_lambda; README "sam local").
    local_lambda_endpoint: str | None = Field(default=None, alias="LOCAL_LAMBDA_ENDPOINT")
    local_aws_host: str = Field(default="127.0.0.1", alias="LOCAL_AWS_HOST")
    """The address the local stack's AWS endpoint (moto) listens on: one of this machine's own, such as
    podman's bridge gateway, where sam local's function containers reach it (README "sam local")."""

    # LLM (docs/api.md). With no LLM_PROVIDER, the first provider that has a key is used, else the offline
    # scripted model. A `*_param` names an SSM parameter (or `secretsmanager:<name>`, or a Secrets Manager
    # ARN) that holds the key in AWS; it is read once and cached (riadex.adapters.aws_parameters).
    llm_provider: Literal["openai", "gemini", "anthropic", "scripted"] | None = None
    llm_model: str | None = None
    openai_api_key: SecretStr | None = None
    openai_api_key_param: str | None = None
    openai_base_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_api_key_param: str | None = None
    gemini_base_url: str | None = None
    """Google's OpenAI-compatible endpoint unless set (a proxy, or a local fake server in tests)."""
    anthropic_api_key: SecretStr | None = None
    anthropic_api_key_param: str | None = None
    anthropic_base_url: str | None = None
    llm_max_retries: int = Field(default=0, ge=0, le=10)
    """Retries inside the SDK; 0 because the state machine's Retry does them, with backoff."""
    llm_timeout_seconds: float = Field(default=120.0, gt=0)
    llm_max_output_tokens: int | None = Field(default=None, gt=0)
    llm_context_tokens: int = Field(default=100_000, gt=0)
    """The budget the conversation is fitted to before each model call."""

    # Web search: tavily | brave | searxng (SEARCH_BASE_URL overrides the API's URL; SearXNG needs it).
    search_provider: Literal["tavily", "brave", "searxng"] | None = None
    search_api_key: SecretStr | None = None
    search_api_key_param: str | None = None
    search_base_url: str | None = None
    search_timeout_seconds: float = Field(default=15.0, gt=0)

    @field_validator(
        "llm_provider",
        "llm_model",
        "openai_api_key",
        "openai_base_url",
        "gemini_api_key",
        "anthropic_api_key",
        "anthropic_base_url",
        "search_provider",
        "search_api_key",
        "search_base_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`OPENAI_API_KEY=` in a .env means "not set", not "the empty key"."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sandbox_network", mode="before")
    @classmethod
    def _network_mode(cls, value: object) -> object:
        """The old boolean SANDBOX_NETWORK still works: true meant the host's network, false none."""
        old = {"true": "host", "1": "host", "yes": "host", "false": "none", "0": "none", "no": "none"}
        key = str(value).strip().lower() if isinstance(value, str | bool) else None
        if key in old:
            warnings.warn(
                f"SANDBOX_NETWORK={value} is deprecated: use SANDBOX_NETWORK={old[key]} "
                "(or internet, the default: the web without the host)",
                DeprecationWarning,
                stacklevel=2,
            )
            logging.getLogger(__name__).warning(
                "SANDBOX_NETWORK=%s is deprecated, read as %s (internet is the default)", value, old[key]
            )
            return old[key]
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("sandbox_allow_hosts")
    @classmethod
    def _allow_hosts(cls, value: str) -> str:
        from riadex.adapters.sandbox.egress import EgressError, parse_allow_hosts

        try:
            parse_allow_hosts(value)
        except EgressError as exc:
            raise ValueError(str(exc)) from None
        return value

    def sandbox_subnet_list(self) -> list[str]:
        return [s.strip() for s in self.sandbox_subnets.split(",") if s.strip()]

    def sandbox_security_group_list(self) -> list[str]:
        return [s.strip() for s in self.sandbox_security_groups.split(",") if s.strip()]

    def cors_origin_list(self) -> list[str]:
        return [s.strip().rstrip("/") for s in self.cors_origins.split(",") if s.strip()]

    def upload_type_patterns(self) -> list[str]:
        return [s.strip().lower() for s in self.upload_content_types.split(",") if s.strip()]

    def resolved_auth_secret(self) -> str:
        """The HS256 secret: AUTH_SECRET if set, else one generated once and kept in the data dir."""
        if self.auth_secret:
            return self.auth_secret
        import secrets

        path = self.data_dir / "auth_secret"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: when two processes start at once, one writes and both read the same secret.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

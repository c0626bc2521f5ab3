"""Settings, read once from the environment (and `.env` locally).

Names follow SPEC §6; everything has a default that works on a laptop with no account and no key.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # Auth (SPEC §1): local HS256 tokens or Cognito claims from API Gateway's authorizer.
    auth_mode: Literal["local", "cognito"] = "local"
    auth_secret: str | None = Field(default=None, repr=False)
    auth_token_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)

    # DynamoDB tables (the template passes the deployed names).
    users_table: str = "riadex-users"
    sessions_table: str = "riadex-sessions"
    runs_table: str = "riadex-runs"
    events_table: str = "riadex-events"
    dynamodb_endpoint: str | None = None
    aws_region: str = Field(default="us-east-1", alias="AWS_REGION")

    # Request limits.
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    max_title_chars: int = Field(default=200, gt=0)
    event_retention_days: int = Field(default=30, gt=0)

    # Sandboxes (SPEC §6 SANDBOX_BACKEND; the rest are this project's own).
    sandbox_backend: Literal["process", "docker", "fargate"] = "process"
    sandbox_idle_timeout: int = Field(default=1800, gt=0)
    """Seconds without use before the reaper (and the tool server's own timer) stops a sandbox."""
    sandbox_reap_every: float = Field(default=60.0, gt=0)
    sandbox_start_timeout: float = Field(default=60.0, gt=0)
    sandbox_memory_mb: int = Field(default=1024, gt=0)
    sandbox_pids_max: int = Field(default=256, gt=0)
    sandbox_cpus: float = Field(default=1.0, gt=0)
    sandbox_browser: bool = False
    sandbox_vnc: bool = False
    sandbox_port: int = Field(default=8080, gt=0, le=65535)
    sandbox_server_dir: Path | None = None
    sandbox_python: str | None = None
    sandbox_jail: Literal["auto", "bwrap", "none"] = "auto"
    sandbox_network: bool = False
    sandbox_image: str = "riadex-sandbox:dev"
    sandbox_cluster: str = "riadex-sandboxes"
    sandbox_task_definition: str = "riadex-sandbox"
    sandbox_container_name: str = "sandbox"
    sandbox_subnets: str = ""
    sandbox_security_groups: str = ""
    sandbox_secret_store: Literal["inline", "ssm"] = "inline"  # noqa: S105 - a mode, not a secret
    sandbox_secret_prefix: str = "/riadex/sandboxes"  # noqa: S105 - an SSM path, not a secret
    vnc_token_ttl_seconds: int = Field(default=60, gt=0, le=600)

    # Files (uploads into sessions).
    files_table: str = "riadex-files"
    files_bucket: str = "riadex-files"
    s3_endpoint: str | None = None
    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    upload_content_types: str = (
        "text/*,image/*,application/pdf,application/json,application/xml,application/zip,"
        "application/gzip,application/x-tar,application/octet-stream,application/x-yaml,"
        "application/vnd.openxmlformats-officedocument.*,application/msword,application/vnd.ms-excel"
    )

    # Local stack.
    port: int = Field(default=8000, ge=0, le=65535)
    host: str = "127.0.0.1"
    data_dir: Path = Field(default=Path(".riadex"), alias="RIADEX_DATA_DIR")
    # Between snapshots of the local tables (also written on shutdown); 0 = only on shutdown.
    snapshot_interval_seconds: float = Field(default=30.0, ge=0)

    def sandbox_subnet_list(self) -> list[str]:
        return [s.strip() for s in self.sandbox_subnets.split(",") if s.strip()]

    def sandbox_security_group_list(self) -> list[str]:
        return [s.strip() for s in self.sandbox_security_groups.split(",") if s.strip()]

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

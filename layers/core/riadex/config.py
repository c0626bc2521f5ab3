"""Settings, read once from the environment (and `.env` locally).

Names follow SPEC §6; everything has a default that works on a laptop with no account and no key.
"""

from __future__ import annotations

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

    # Runs, the event log and streams (SPEC §1-§4).
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

    # Local stack.
    port: int = Field(default=8000, ge=0, le=65535)
    host: str = "127.0.0.1"
    data_dir: Path = Field(default=Path(".riadex"), alias="RIADEX_DATA_DIR")

    def resolved_auth_secret(self) -> str:
        """The HS256 secret: AUTH_SECRET if set, else one generated once and kept in the data dir."""
        if self.auth_secret:
            return self.auth_secret
        import secrets

        path = self.data_dir / "auth_secret"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        path.chmod(0o600)
        return secret


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

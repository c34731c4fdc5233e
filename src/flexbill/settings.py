"""Settings from the environment (``FLEXBILL_*``) or a ``.env`` file. Every knob has an env var."""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "flexbill"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEXBILL_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Where the embedded database lives.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db. Default: SQLite in data_dir.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    today: date | None = Field(
        default=None,
        description="Pretend today is this date (YYYY-MM-DD): for rehearsing a month ahead, and for tests.",
    )

    public_url: str | None = Field(
        default=None,
        description="The address members and accounting systems reach flexbill at (e.g. https://billing.example.com). "
        "Default: derived from each request.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that encrypts accounting tokens at rest (a Fernet key: 32 url-safe base64 bytes). "
        "Default: a key generated once and kept in data_dir/secret.key.",
    )
    xero_client_id: str | None = Field(default=None, description="Xero app's client id (any value for a sandbox).")
    xero_client_secret: str | None = Field(default=None, description="Xero app's client secret.")
    xero_webhook_key: str | None = Field(default=None, description="Xero app's webhook signing key.")
    worker_in_process: bool = Field(
        default=True, description="Run the task worker inside `flexbill serve` (the embedded default)."
    )
    poll_seconds: int = Field(
        default=60, ge=5, description="How often the worker pulls changes from accounting systems."
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'flexbill.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

"""Settings from the environment (``FLEXBILL_*``) or a ``.env`` file. Every knob has an env var."""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
        description="The address members and accounting systems reach flexbill at (e.g. https://billing.example.com): "
        "the pay links in emails and PDFs, and Xero's return after consent. Default: http://HOST:PORT for links "
        "sent out, each request's own address for Xero's return.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key that encrypts accounting tokens and gateway keys at rest, and signs pay links (a Fernet key: "
        "32 url-safe base64 bytes). "
        "Default: a key generated once and kept in data_dir/secret.key.",
    )
    xero_client_id: str | None = Field(default=None, description="Xero app's client id (any value for a sandbox).")
    xero_client_secret: str | None = Field(default=None, description="Xero app's client secret.")
    xero_webhook_key: str | None = Field(default=None, description="Xero app's webhook signing key.")
    quickbooks_client_id: str | None = Field(
        default=None, description="QuickBooks Online app's client id (any value for a sandbox)."
    )
    quickbooks_client_secret: str | None = Field(default=None, description="QuickBooks Online app's client secret.")
    quickbooks_webhook_key: str | None = Field(
        default=None, description="QuickBooks Online app's webhook verifier token."
    )
    worker_in_process: bool = Field(
        default=True, description="Run the task worker inside `flexbill serve` (the embedded default)."
    )
    poll_seconds: int = Field(
        default=60, ge=5, description="How often the worker pulls changes from accounting systems."
    )
    smtp_host: str | None = Field(
        default=None,
        description="The mail server emails are sent through. Default: none, and they go to the local capture "
        "(viewed at /mail), so nothing reaches a real inbox.",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="The mail server's port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (upgrade the connection, usually port 587), tls (TLS from the start, usually port 465) "
        "or none (a relay on a trusted network only).",
    )
    smtp_user: str | None = Field(default=None, description="The mail server login; none: send without logging in.")
    smtp_password: str | None = Field(default=None, description="The mail server password.")
    mail_from: str = Field(
        default="billing@flexbill.localhost",
        description="The address emails come from; the sender name is each location's.",
    )
    webhooks_allow_private: bool = Field(
        default=False,
        description="Send outgoing webhooks to private, loopback and link-local addresses too (a receiver on this "
        "machine or on your own network). Off: only public addresses, so an endpoint cannot reach inside.",
    )
    mail_capture_port: int = Field(
        default=8025,
        ge=0,
        le=65535,
        description="Port of the local mail capture (on 127.0.0.1) used when no smtp_host is set; 0: any free port.",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / 'flexbill.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

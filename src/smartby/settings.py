"""Every smartby setting, read once from the environment (prefix `SMARTBY_`) or a `.env` file.

docs/settings.md documents each field; a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTBY_", env_file=".env", extra="ignore")

    database: str = Field(
        "sqlite:///./smartby.db",
        description="Where context is kept: sqlite:///path/to/city.db or postgresql://user@host/db.",
    )
    host: str = Field("127.0.0.1", description="Address `smartby serve` listens on.")
    port: int = Field(1026, ge=1, le=65535, description="Port `smartby serve` listens on (1026, as FIWARE).")
    workers: int = Field(1, ge=1, le=64, description="Server processes `smartby serve` starts.")
    context_dir: Path | None = Field(
        None,
        description="Folder of JSON-LD context files with an index.json mapping each URL to a file name; "
        "those URLs resolve offline.",
    )
    remote_contexts: bool = Field(
        True,
        description="Fetch @context URLs that are not known locally (each is fetched once, then cached).",
    )
    context_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a remote @context.")
    default_limit: int = Field(20, ge=1, description="Entities per page when a query gives no `limit`.")
    max_limit: int = Field(1000, ge=1, description="Largest `limit` a query may ask for.")
    temporal_page_size: int = Field(
        10_000,
        ge=1,
        description="Most instances of one attribute in a temporal response (more: 206 and Content-Range).",
    )
    history_retention: dict[str, int] = Field(
        default_factory=dict,
        description='Days of raw history kept per entity type (JSON, e.g. {"TrafficFlowObserved": 365}); '
        "types not named are kept forever.",
    )
    retention_interval: float = Field(
        3600.0, gt=0, description="Seconds between two passes of history retention (see history_retention)."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (bigger gets 413)."
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        "FULL",
        description="SQLite `synchronous` pragma. FULL: an acknowledged write survives power loss; "
        "NORMAL: survives a crash of smartby, may lose the last commits on power loss.",
    )
    pg_pool_min: int = Field(
        1, ge=0, le=1000, description="PostgreSQL: connections each smartby process keeps open at least."
    )
    pg_pool_max: int = Field(
        10,
        ge=2,
        le=1000,
        description="PostgreSQL: connections each smartby process opens at most (and threads that use them).",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="Server log level."
    )
    notifications: bool = Field(
        True,
        description="Deliver subscription notifications from this process (several processes on one "
        "PostgreSQL database share the work, each notification attempt made by one of them).",
    )
    notification_timeout: float = Field(
        10.0, gt=0, description="Seconds one notification delivery (HTTP POST or MQTT publish) may take."
    )
    notification_retry_delay: float = Field(
        1.0,
        gt=0,
        description="Seconds before the first retry of a failed notification; each further retry waits "
        "twice as long, up to notification_retry_max_delay.",
    )
    notification_retry_max_delay: float = Field(
        300.0, gt=0, description="Longest wait, in seconds, between two attempts to deliver a notification."
    )
    notification_max_attempts: int = Field(
        20, ge=0, description="Attempts before a notification is given up (0: no limit but its age)."
    )
    notification_max_age: float = Field(
        86400.0,
        ge=0,
        description="Seconds after which an undelivered notification is given up (0: no limit but attempts).",
    )
    notification_concurrency: int = Field(
        64, ge=1, description="Notifications being delivered at once by one process (at most 8 per endpoint)."
    )
    notification_poll_interval: float = Field(
        1.0,
        gt=0,
        description="Seconds between looks at the outbox for notifications other processes queued "
        "(this process's own writes wake the notifier at once).",
    )

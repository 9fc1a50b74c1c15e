"""Settings from the environment and `.env`, built once and passed around.

The names and defaults are documented in README.md ("Configuration") and
docs/operations.md; they are a contract: rename none. Tests build
`Settings` from a plain mapping (`load_settings({...})`) instead of patching os.environ.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from meterhub.protocol.rules import DEFAULT_LATE_WINDOW_DAYS

SECRET_FILE_NAME = "session_secret"  # noqa: S105 - a file name
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Every setting meterhub reads; see the README's configuration table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    PORT: int = Field(3000, ge=1, le=65535)
    HOST: str = "0.0.0.0"
    SESSION_SECRET: str | None = None
    MQTT_BROKER_URL: str = "auto"
    MQTT_PORT: int = Field(1883, ge=1, le=65535)
    MQTT_CA_FILE: str | None = None
    """PEM file of a private CA that every MQTT client of meterhub trusts (mqtts://)."""
    MQTT_BIND: str = "127.0.0.1"
    MQTT_ENROLMENT: bool = True
    MQTT_TLS_PORT: int | None = Field(None, ge=1, le=65535)
    MQTT_TLS_NAMES: str = ""
    DATABASE_URL: str | None = None
    METERHUB_DATA_DIR: Path = Path("./data")
    METERHUB_TZ: str = "UTC"
    LOG_LEVEL: LogLevel = "INFO"
    HA_DISCOVERY: bool = False
    HA_DISCOVERY_PREFIX: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    PUBLIC_URL: str | None = None
    # Accounts and limits (docs/security.md)
    SESSION_IDLE_HOURS: float = Field(12, gt=0, le=24 * 90)
    SESSION_MAX_DAYS: float = Field(7, gt=0, le=365)
    ALLOWED_HOSTS: str | None = None
    REQUIRE_ADMIN_2FA: bool = False
    EXPORT_MAX_DAYS: int = Field(366, ge=1, le=3660)
    WS_PER_SESSION: int = Field(8, ge=1, le=1000)
    MAX_BODY_BYTES: int = Field(1024 * 1024, ge=1024)
    # Operations (docs/operations.md)
    RETENTION_RAW_DAYS: int | None = Field(None, ge=30)  # >= the 30-day late window
    AUDIT_MAX_ROWS: int = Field(100_000, ge=100)
    SMTP_URL: str | None = None
    SMTP_FROM: str | None = None

    @field_validator("SMTP_URL")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("smtp://", "smtps://")):
            raise ValueError("SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://...")
        return value or None

    METERHUB_LATE_WINDOW_DAYS: float = Field(DEFAULT_LATE_WINDOW_DAYS, gt=0, le=3650)
    """Readings timed longer than this before they arrive are dead letters `too_old`."""
    INGEST_SHARED_GROUP: str | None = None
    """Several ingest workers split the stream (``$share/<group>/...``); PostgreSQL only."""
    INGEST_NAME: str | None = None
    """This ingest worker's name (client id ``meterhub-ingest-<name>``); default host name."""

    @field_validator("METERHUB_TZ")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: e.g. name too long
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin"
            ) from None
        return value

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("SESSION_SECRET")
    @classmethod
    def _strong_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 32:
            raise ValueError(
                "SESSION_SECRET must be at least 32 characters; unset it to generate one"
            )
        return value

    @property
    def data_dir(self) -> Path:
        """The data directory, absolute."""
        return self.METERHUB_DATA_DIR.expanduser().resolve()

    @property
    def database_url(self) -> str:
        """DATABASE_URL, defaulting to a SQLite file in the data dir."""
        return self.DATABASE_URL or f"sqlite:///{self.data_dir / 'meterhub.db'}"

    @property
    def log_file(self) -> Path:
        """Where `start-all.sh` and `meterhub run` write the log."""
        return self.data_dir / "meterhub.log"

    def session_secret(self) -> str:
        """SESSION_SECRET, or one generated once and kept in the data dir (mode 0600)."""
        if self.SESSION_SECRET:
            return self.SESSION_SECRET
        return _stored_secret(self.data_dir / SECRET_FILE_NAME)


def stored_secret(path: Path) -> str:
    """A random secret kept in `path` (mode 0600), generated the first time."""
    return _stored_secret(path)


def _stored_secret(path: Path) -> str:
    if path.exists():
        value = path.read_text().strip()
        if len(value) >= 32:
            if path.stat().st_mode & 0o077:  # copied or restored with loose permissions
                path.chmod(stat.S_IRUSR | stat.S_IWUSR)
            return value
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL on a temp name, then rename: never a world-readable moment, never half a file.
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    os.replace(tmp, path)
    return value


def load_settings(overrides: Mapping[str, object] | None = None) -> Settings:
    """Settings from the environment and `.env`, with `overrides` on top (tests use this)."""
    return Settings(**dict(overrides or {}))  # type: ignore[arg-type]

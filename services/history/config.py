"""History settings (``SCOPS_`` variables, see the README's configuration table and
docs/history.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import ArgumentError

from shared.settings import BaseServiceSettings

SUPPORTED_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")
PLAIN_SCHEMES = {
    "postgresql://": "postgresql+asyncpg://",
    "postgres://": "postgresql+asyncpg://",
    "sqlite://": "sqlite+aiosqlite://",
}


class HistorySettings(BaseServiceSettings):
    # A refused database URL may hold a password: errors never repeat what was given.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    history_host: str = Field("127.0.0.1", description="History service listen address.")
    history_port: int = Field(8005, ge=1, le=65535, description="History service HTTP port.")
    history_database_url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///.run/history.db"),
        description="Where the durable history lives: postgresql+asyncpg://user:password@host/db "
        "in production; the default is an SQLite file under the run directory.",
    )
    history_migrate_on_start: bool = Field(
        True, description="Apply pending schema migrations when the service starts."
    )
    history_retention_days: float = Field(
        365.0,
        gt=0,
        description="Incidents with no step for this long, and older audit records, are deleted.",
    )
    history_retention_interval_s: float = Field(
        3600.0, gt=0, description="How often old history is deleted."
    )
    history_silence_poll_s: float = Field(
        30.0, gt=0, description="How often the notifier's silences are copied into the history."
    )
    history_db_pool_size: int = Field(
        5, ge=1, le=100, description="Database connections per process (PostgreSQL)."
    )

    @field_validator("history_database_url")
    @classmethod
    def _supported(cls, value: SecretStr) -> SecretStr:
        text = value.get_secret_value()
        for plain, driver in PLAIN_SCHEMES.items():  # as people write them: the async driver
            if text.startswith(plain):
                text = driver + text[len(plain) :]
                value = SecretStr(text)
        try:
            driver = make_url(text).drivername
        except ArgumentError:
            raise ValueError(
                f"not a database URL; use one of {', '.join(SUPPORTED_DRIVERS)}"
            ) from None
        if driver not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"driver {driver!r} is not supported: use {' or '.join(SUPPORTED_DRIVERS)}"
            )
        return value

    @property
    def http_host(self) -> str:
        return self.history_host

    @property
    def http_port(self) -> int:
        return self.history_port

    @property
    def database_url(self) -> str:
        return self.history_database_url.get_secret_value()

"""The settings base every service builds its own ``Settings`` class on.

Every variable is read from the environment with the ``SCOPS_`` prefix (or a ``.env`` file).
Nothing else in the project reads ``os.environ``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.secret_rules import PLACEHOLDER_SECRET as PLACEHOLDER_SECRET
from shared.secret_rules import VERIFIER, SecretSetting, secret_refusals
from shared.time_bounds import DEFAULT_MAX_FUTURE_S, DEFAULT_MAX_PAST_S, TimeBounds

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class BaseServiceSettings(BaseSettings):
    """Configuration common to every service."""

    model_config = SettingsConfigDict(
        env_prefix="SCOPS_", env_file=".env", extra="ignore", frozen=True
    )

    env: str = Field("dev", description="Deployment name, e.g. dev, staging, prod.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for streams and state.")
    log_level: LogLevel = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_json: bool = Field(True, description="JSON log lines (false: human-readable).")
    metric_shards: int = Field(4, ge=1, le=1024, description="Shards of the metrics stream.")
    max_future_s: float = Field(
        DEFAULT_MAX_FUTURE_S,
        ge=0,
        le=86400,
        description="Samples and alerts timed more than this many seconds ahead of the "
        "receiving clock are refused (the detector also drops them).",
    )
    max_past_s: float = Field(
        DEFAULT_MAX_PAST_S,
        ge=60,
        description="Samples and alerts timed more than this many seconds before the "
        "receiving clock are refused.",
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted (bytes); a larger one is refused (413) "
        "before it is read.",
    )
    body_read_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="A request body not received whole this many seconds after the service "
        "began reading it is refused (408) and its connection closed.",
    )
    stream_maxlen: int = Field(
        1_000_000, ge=1000, description="Approximate cap (MAXLEN ~) of each event stream."
    )
    consumer_batch: int = Field(100, ge=1, le=10_000, description="Entries read per XREADGROUP.")
    consumer_block_ms: int = Field(1000, ge=1, description="How long a read waits for entries.")
    claim_idle_ms: int = Field(
        30_000, ge=100, description="Pending entries idle this long are reclaimed (XAUTOCLAIM)."
    )
    max_deliveries: int = Field(
        5, ge=1, description="Deliveries before an entry goes to the dead-letter stream."
    )
    internal_token: Annotated[SecretStr, VERIFIER] = Field(
        SecretStr(PLACEHOLDER_SECRET),
        description="Token services present to each other's mutating endpoints; outside dev "
        "and test at least 32 random bytes, e.g. the output of `openssl rand -hex 32` (the "
        "placeholder is accepted in dev only while every service listens on loopback).",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _no_weak_secrets(self) -> BaseServiceSettings:
        """Refuse to start on a secret that is empty, a placeholder or too short (see
        ``shared.secret_rules``), naming every offending setting in one line."""
        secrets: list[SecretSetting] = []
        hosts: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                verifier = VERIFIER in field.metadata
                secrets.append(SecretSetting(name, value.get_secret_value(), verifier))
            elif name.endswith("_host") and isinstance(value, str):
                hosts[name] = value
        refusals = secret_refusals(self.env, secrets, hosts)
        if refusals:
            raise ValueError("; ".join(refusals))
        return self

    @property
    def time_bounds(self) -> TimeBounds:
        """How far from this service's clock an incoming sample's time may be."""
        return TimeBounds(self.max_future_s, self.max_past_s)

    @property
    def http_host(self) -> str:
        """Listen address of this service (each service names its own variable)."""
        return "127.0.0.1"

    @property
    def http_port(self) -> int:
        raise NotImplementedError

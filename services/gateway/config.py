"""Gateway settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    gateway_host: str = Field("127.0.0.1", description="Gateway listen address.")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Gateway HTTP port.")
    max_batch_samples: int = Field(
        5000, ge=1, le=100_000, description="Most samples accepted in one POST /v1/metrics."
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest request body accepted (bytes)."
    )
    detector_url: str = Field("http://127.0.0.1:8001", description="Where the detector listens.")
    remediator_url: str = Field(
        "http://127.0.0.1:8002", description="Where the remediator listens."
    )
    notifier_url: str = Field("http://127.0.0.1:8003", description="Where the notifier listens.")
    proxy_timeout_s: float = Field(10.0, gt=0, description="Timeout of a call to a backend.")
    ingest_rate_per_min: int = Field(
        6000, ge=1, description="Requests per minute per API key on the ingest endpoints."
    )
    chatops_rate_per_min: int = Field(
        60, ge=1, description="Requests per minute per API key (or Slack user) on ChatOps."
    )
    slack_signing_secret: SecretStr | None = Field(
        None, description="Slack app signing secret; unset: the Slack endpoints refuse all."
    )
    anomaly_index_days: int = Field(
        14, ge=1, description="How long GET /anomalies remembers an anomaly."
    )

    @property
    def http_host(self) -> str:
        return self.gateway_host

    @property
    def http_port(self) -> int:
        return self.gateway_port

"""Gateway settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    gateway_host: str = Field("127.0.0.1", description="Gateway listen address.")
    gateway_port: int = Field(8000, ge=1, le=65535, description="Gateway HTTP port.")
    max_batch_samples: int = Field(
        5000, ge=1, le=100_000, description="Most samples accepted in one POST /v1/metrics."
    )

    @property
    def http_host(self) -> str:
        return self.gateway_host

    @property
    def http_port(self) -> int:
        return self.gateway_port

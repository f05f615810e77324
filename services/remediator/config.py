"""Remediator settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import BaseServiceSettings


class RemediatorSettings(BaseServiceSettings):
    remediator_host: str = Field("127.0.0.1", description="Remediator listen address.")
    remediator_port: int = Field(8002, ge=1, le=65535, description="Remediator HTTP port.")
    dry_run: bool = Field(True, description="Record what would run instead of running it.")
    task_time_limit_s: int = Field(600, ge=10, description="Hard limit of one remediation task.")
    visibility_timeout_s: int = Field(
        3600,
        ge=60,
        description=(
            "Broker redelivers an unacknowledged task after this; keep above the longest task."
        ),
    )
    claim_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="How long an anomaly x action idempotency claim lasts."
    )

    @property
    def http_host(self) -> str:
        return self.remediator_host

    @property
    def http_port(self) -> int:
        return self.remediator_port

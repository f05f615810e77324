"""Notifier settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.settings import BaseServiceSettings


class NotifierSettings(BaseServiceSettings):
    notifier_host: str = Field("127.0.0.1", description="Notifier listen address.")
    notifier_port: int = Field(8003, ge=1, le=65535, description="Notifier HTTP port.")
    slack_webhook_url: SecretStr | None = Field(
        None, description="Slack incoming webhook; unset: messages go to the local outbox."
    )
    delivery_attempts: int = Field(5, ge=1, le=20, description="Tries per message.")
    delivery_timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per try.")
    retry_max_wait_s: float = Field(30.0, gt=0, description="Longest wait between tries.")
    outbox_size: int = Field(1000, ge=10, description="Messages kept in the local outbox.")

    @property
    def http_host(self) -> str:
        return self.notifier_host

    @property
    def http_port(self) -> int:
        return self.notifier_port

"""The processes of the stack and how each one is started (shared by ``scops up`` and the
container images, so both run the same commands)."""

from __future__ import annotations

from dataclasses import dataclass

from services.collector.config import CollectorSettings
from services.detector.config import DetectorSettings
from services.gateway.config import GatewaySettings
from services.history.config import HistorySettings
from services.notifier.config import NotifierSettings
from services.remediator.config import RemediatorSettings
from shared.settings import BaseServiceSettings


@dataclass(frozen=True)
class HttpService:
    name: str
    app: str  # uvicorn factory path
    settings_class: type[BaseServiceSettings]

    def settings(self) -> BaseServiceSettings:
        return self.settings_class()

    def url(self) -> str:
        s = self.settings()
        host = "127.0.0.1" if s.http_host in ("0.0.0.0", "::") else s.http_host  # noqa: S104
        return f"http://{host}:{s.http_port}"


HTTP_SERVICES: dict[str, HttpService] = {
    s.name: s
    for s in (
        HttpService("gateway", "services.gateway.app:create_app", GatewaySettings),
        HttpService("detector", "services.detector.app:create_app", DetectorSettings),
        HttpService("remediator", "services.remediator.app:create_app", RemediatorSettings),
        HttpService("notifier", "services.notifier.app:create_app", NotifierSettings),
        HttpService("history", "services.history.app:create_app", HistorySettings),
    )
}
# Started by ``scops up`` only when configured (the collector: when AWS is).
OPTIONAL_SERVICES: dict[str, HttpService] = {
    "collector": HttpService("collector", "services.collector.app:create_app", CollectorSettings),
}
ALL_SERVICES: dict[str, HttpService] = HTTP_SERVICES | OPTIONAL_SERVICES


def services_to_run() -> dict[str, HttpService]:
    """The services ``scops up`` starts: every required one, and the collector when AWS is
    configured (``SCOPS_AWS_REGION`` or ``SCOPS_COLLECTOR_ACCOUNTS``)."""
    wanted = dict(HTTP_SERVICES)
    if CollectorSettings().enabled:
        wanted["collector"] = OPTIONAL_SERVICES["collector"]
    return wanted

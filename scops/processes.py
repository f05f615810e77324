"""The processes of the stack and how each one is started (shared by ``scops up`` and the
container images, so both run the same commands)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from shared.settings import BaseServiceSettings


@dataclass(frozen=True)
class HttpService:
    name: str
    app: str  # uvicorn factory path

    @property
    def settings_class(self) -> type[BaseServiceSettings]:
        """``services.<name>.config``'s settings, imported when asked for: a process imports
        its own service's configuration only (the history's pulls in SQLAlchemy, the
        notifier's its renderers), which keeps every start and restart shorter."""
        module = import_module(f"services.{self.name}.config")
        return cast("type[BaseServiceSettings]", getattr(module, f"{self.name.title()}Settings"))

    def settings(self) -> BaseServiceSettings:
        return self.settings_class()

    def url(self) -> str:
        s = self.settings()
        host = "127.0.0.1" if s.http_host in ("0.0.0.0", "::") else s.http_host  # noqa: S104
        return f"http://{host}:{s.http_port}"


HTTP_SERVICES: dict[str, HttpService] = {
    s.name: s
    for s in (
        HttpService("gateway", "services.gateway.app:create_app"),
        HttpService("detector", "services.detector.app:create_app"),
        HttpService("remediator", "services.remediator.app:create_app"),
        HttpService("notifier", "services.notifier.app:create_app"),
        HttpService("history", "services.history.app:create_app"),
    )
}
# Started by ``scops up`` only when configured (the collector: when AWS is).
OPTIONAL_SERVICES: dict[str, HttpService] = {
    "collector": HttpService("collector", "services.collector.app:create_app"),
}
ALL_SERVICES: dict[str, HttpService] = HTTP_SERVICES | OPTIONAL_SERVICES


def services_to_run() -> dict[str, HttpService]:
    """The services ``scops up`` starts: every required one, and the collector when AWS is
    configured (``SCOPS_AWS_REGION`` or ``SCOPS_COLLECTOR_ACCOUNTS``)."""
    from services.collector.config import CollectorSettings

    wanted = dict(HTTP_SERVICES)
    if CollectorSettings().enabled:
        wanted["collector"] = OPTIONAL_SERVICES["collector"]
    return wanted


def detector_shards(index: int, detectors: int, shards: int) -> list[int]:
    """The metric shards detector process ``index`` of ``detectors`` owns: every
    ``detectors``-th shard from ``index`` (the gateway routes a series to that process)."""
    return list(range(index, shards, detectors))


@dataclass(frozen=True)
class DetectorProcess:
    name: str
    url: str
    env: dict[str, str]


# Ports of further detector processes: the first one's port plus this much per process (8011,
# 8021, ... by default), clear of the other services' defaults.
DETECTOR_PORT_STEP = 10


def detector_processes(count: int) -> list[DetectorProcess]:
    """The detector processes ``scops up --detectors count`` runs: where each listens and the
    shards it owns (one process: the detector as configured)."""
    from services.detector.config import DetectorSettings

    settings = DetectorSettings()
    if count <= 1:
        return [DetectorProcess("detector", HTTP_SERVICES["detector"].url(), {})]
    host = "127.0.0.1" if settings.detector_host in ("0.0.0.0", "::") else settings.detector_host  # noqa: S104
    found = []
    for index in range(count):
        port = settings.detector_port + DETECTOR_PORT_STEP * index
        shards = detector_shards(index, count, settings.metric_shards)
        if not shards:
            raise ValueError(
                f"{count} detector processes for {settings.metric_shards} metric shards: "
                "raise SCOPS_METRIC_SHARDS to at least the number of processes"
            )
        env = {
            "SCOPS_DETECTOR_PORT": str(port),
            "SCOPS_DETECTOR_SHARDS": ",".join(map(str, shards)),
        }
        found.append(DetectorProcess(f"detector-{index}", f"http://{host}:{port}", env))
    return found

"""Links from a message to where the reader looks next: the incident's page in the operator
console, a Grafana panel, the gateway's record."""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from urllib.parse import quote

from services.notifier.core.alerts import Alert
from shared.incidents import incident_url

FIELDS = frozenset({"resource_id", "metric", "anomaly_id", "correlation_id", "from_ms", "to_ms"})


def check_template(template: str | None) -> str | None:
    """Refuse placeholders other than :data:`FIELDS` (caught when settings load)."""
    if template is None:
        return None
    names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    unknown = names - FIELDS
    if unknown:
        raise ValueError(f"unknown placeholders {sorted(unknown)}; use {sorted(FIELDS)}")
    return template


@dataclass(frozen=True)
class Links:
    grafana: str | None = None
    record: str | None = None
    console: str | None = None  # the console's public base URL

    def incident(self, anomaly_id: str) -> list[tuple[str, str]]:
        """The incident's page (any event id of its episode leads there)."""
        if not self.console:
            return []
        return [("Incident", incident_url(self.console, quote(anomaly_id, safe="")))]

    def for_alert(self, alert: Alert) -> list[tuple[str, str]]:
        start = int(alert.started_at.timestamp() * 1000)
        values = {
            "resource_id": quote(alert.resource_id, safe=""),
            "metric": quote(alert.metric, safe=""),
            "anomaly_id": quote(alert.anomaly_id, safe=""),
            "correlation_id": quote(alert.correlation_id, safe=""),
            "from_ms": str(start - 30 * 60_000),
            "to_ms": str(int(alert.updated_at.timestamp() * 1000) + 30 * 60_000),
        }
        found = self.incident(alert.anomaly_id)
        if self.grafana:
            found.append(("Grafana", self.grafana.format(**values)))
        if self.record:
            found.append(("Record", self.record.format(**values)))
        return found

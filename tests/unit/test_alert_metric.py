"""Which metric an Alertmanager alert's anomaly is about: the alert's ``metric`` label (so the
rules written for the detector's findings apply), else its name."""

from __future__ import annotations

from datetime import timedelta

from services.gateway.alertmanager import AlertmanagerPayload, read_alerts
from shared.events import AnomalyEvent, utcnow


def _metric_of(labels: dict[str, str]) -> str:
    payload = AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"instance": "web-7", "severity": "critical", **labels},
                    "startsAt": (utcnow() - timedelta(minutes=1)).isoformat(),
                    "fingerprint": "beef",
                }
            ],
        }
    )
    (event,) = read_alerts(payload, "corr-1").events
    assert isinstance(event, AnomalyEvent)
    return event.metric


def test_the_metric_label_names_the_metric_so_the_shipped_rules_apply() -> None:
    assert _metric_of({"alertname": "HighCPU", "metric": "cpu_utilization"}) == "cpu_utilization"


def test_without_it_the_alert_name_is_the_metric() -> None:
    assert _metric_of({"alertname": "HighCPU"}) == "HighCPU"
    assert _metric_of({"alertname": "High CPU!"}) == "High_CPU_"  # made a metric name


def test_a_metric_label_is_data_made_a_name_never_a_path() -> None:
    said = {"alertname": "X", "metric": "../cpu utilization"}
    assert _metric_of(said) == "alert_.._cpu_utilization"


def test_an_alert_sent_with_a_long_owned_key_is_accepted_naming_its_sender() -> None:
    from services.gateway.api_keys import Role
    from services.gateway.auth import Principal

    sender = Principal("k1", "am", Role.INGEST, "person:team-" + "x" * 300).sender
    payload = AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighCPU", "instance": "web-7"},
                    "startsAt": (utcnow() - timedelta(minutes=1)).isoformat(),
                    "fingerprint": "beef",
                }
            ],
        }
    )
    batch = read_alerts(payload, "corr-1", sent_by=sender)
    assert batch.skipped == []
    (event,) = batch.events
    assert isinstance(event, AnomalyEvent) and event.sent_by == sender

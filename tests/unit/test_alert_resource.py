"""Which resource an Alertmanager alert's anomaly is about: its resource label taken exactly.
A label that is not a resource id (spaces included) skips the alert, naming the label; it is
never trimmed into another resource's name, nor passed over for the next label."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.gateway.alertmanager import AlertmanagerPayload, read_alerts
from shared.events import AnomalyEvent, utcnow


def _read(labels: dict[str, str]) -> tuple[list[str], list[str]]:
    payload = AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "HighCPU", "job": "node", **labels},
                    "startsAt": (utcnow() - timedelta(minutes=1)).isoformat(),
                    "fingerprint": "beef",
                }
            ],
        }
    )
    batch = read_alerts(payload, "corr-1")
    resources = [e.resource_id for e in batch.events if isinstance(e, AnomalyEvent)]
    return resources, [s.reason for s in batch.skipped]


@pytest.mark.parametrize("instance", [" web-1 ", "web-1 ", "   "])
def test_a_resource_label_with_spaces_skips_the_alert_naming_the_label(instance: str) -> None:
    resources, (reason,) = _read({"instance": instance})
    assert resources == []
    assert reason.startswith("labels.instance: ") and "not acted on" in reason


def test_an_empty_resource_label_is_no_label_and_the_next_one_names_the_resource() -> None:
    assert _read({"instance": ""}) == (["node"], [])
    assert _read({"instance": "web-1"}) == (["web-1"], [])

"""An Alertmanager alert without a ``value`` annotation says "no value" wherever it is shown
(Slack, console, ChatOps, history), never a made-up 1 as if 1 had been measured. The event
keeps its float ``value`` (0, meaningless) and says ``value_given: false``."""

from __future__ import annotations

import json
from datetime import timedelta

from services.gateway.alertmanager import AlertmanagerPayload, read_alerts
from services.gateway.chatops.answers import anomaly_line
from services.gateway.console.rendering import ENVIRONMENT
from services.gateway.console.series_data import marked
from services.history.core.steps import anomaly_steps, resolution_steps
from services.notifier.core.grouping import FlushPlan, alert_from_event
from services.notifier.core.render import Channel, Links, render_flush
from shared.events import AnomalyEvent, AnomalyResolved, utcnow
from tests.unit.notifier.test_render_alerts import META


def _fired(annotations: dict[str, str]) -> AnomalyEvent:
    payload = AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DiskFull", "instance": "db-1", "severity": "high"},
                    "annotations": annotations,
                    "startsAt": (utcnow() - timedelta(minutes=2)).isoformat(),
                    "fingerprint": "f00d",
                }
            ],
        }
    )
    (event,) = read_alerts(payload, "corr-1").events
    assert isinstance(event, AnomalyEvent)
    return event


def _slack(event: AnomalyEvent) -> str:
    (rendered,) = render_flush(
        FlushPlan(firing=[alert_from_event(event)]), META, Channel.SLACK, Links()
    )
    return rendered.text + json.dumps(rendered.payload)


def _console_value(event: AnomalyEvent) -> str:
    module = ENVIRONMENT.get_template("macros.html").module
    item = json.loads(event.model_dump_json())
    return str(module.value(item)).strip()  # type: ignore[attr-defined]


def test_an_alert_without_a_value_says_so_and_keeps_the_alert_markers() -> None:
    for given in ({"summary": "disk nearly full"}, {"value": "n/a"}, {"value": "nan"}):
        event = _fired(given)
        assert event.value_given is False, given
        # Still recognised as an alert posted to the gateway: no band, no detector.
        assert event.detectors == ["alertmanager"]
        assert event.expected_low == event.expected_high == event.value
        assert AnomalyEvent.model_validate_json(event.model_dump_json()) == event


def test_no_value_is_shown_as_such_in_slack_console_chatops_and_history() -> None:
    event = _fired({"summary": "disk nearly full"})
    slack = _slack(event)
    assert "no value given" in slack, slack
    assert "DiskFull on db-1: 1" not in slack and "*1*" not in slack, slack
    assert "DiskFull on db-1: 0" not in slack and "*0*" not in slack, slack
    assert _console_value(event) == "no value given"
    line = anomaly_line(json.loads(event.model_dump_json()), utcnow())
    assert "no value given" in line and "= 1" not in line and "= 0" not in line, line
    assert not marked([json.loads(event.model_dump_json())])  # no dot at a made-up height
    for _, entry in anomaly_steps(event).entries:
        assert "value" not in entry.detail, entry.detail
    raised = dict(anomaly_steps(event).entries)[str(event.event_id)]
    assert raised.detail["value_given"] is False


def test_an_alert_with_a_value_still_shows_it() -> None:
    event = _fired({"value": "97.2"})
    assert event.value_given is True and event.value == 97.2
    assert "97.2" in _slack(event) and "no value" not in _slack(event)
    assert _console_value(event) == "97.2"
    assert "= 97.2" in anomaly_line(json.loads(event.model_dump_json()), utcnow())
    raised = dict(anomaly_steps(event).entries)[str(event.event_id)]
    assert raised.detail["value"] == 97.2


def test_alertmanagers_resolution_records_no_last_value_in_the_history() -> None:
    """A resolved alert repeats the value annotation it fired with (or none: 0): its word, not
    a measurement, as Slack's resolution message already says ("resolved by Alertmanager")."""
    payload = AlertmanagerPayload.model_validate(
        {
            "version": "4",
            "status": "resolved",
            "alerts": [
                {
                    "status": "resolved",
                    "labels": {"alertname": "DiskFull", "instance": "db-1"},
                    "startsAt": (utcnow() - timedelta(minutes=5)).isoformat(),
                    "endsAt": (utcnow() - timedelta(minutes=1)).isoformat(),
                    "fingerprint": "f00d",
                }
            ],
        }
    )
    (event,) = read_alerts(payload, "corr-2").events
    assert isinstance(event, AnomalyResolved) and event.source == "alertmanager"
    ((_, entry),) = resolution_steps(event).entries
    assert "last_value" not in entry.detail, entry.detail

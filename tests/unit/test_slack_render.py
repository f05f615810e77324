"""Slack messages: what an on-call engineer reads, within Slack's limits."""

from __future__ import annotations

import json
import uuid

from services.notifier.render import render_record
from shared.events import RemediationRecord, RemediationStatus, Severity


def _record(**overrides: object) -> RemediationRecord:
    data: dict[str, object] = {
        "anomaly_id": uuid.uuid4(),
        "resource_id": "web-1",
        "metric": "cpu_utilization",
        "severity": Severity.CRITICAL,
        "action": "restart_service",
        "status": RemediationStatus.DRY_RUN,
        "reason": "critical anomaly on cpu_utilization",
        "anomaly_value": 97.5,
        "expected_low": 23.6,
        "expected_high": 47.3,
        "anomaly_explanation": "cpu_utilization=97.5 is 14 robust standard deviations above",
        "correlation_id": "corr-42",
    }
    data.update(overrides)
    return RemediationRecord.model_validate(data)


def test_message_names_severity_resource_value_range_and_decision() -> None:
    message = render_record(_record())
    assert message.text.startswith(":red_circle: CRITICAL: cpu_utilization on web-1")
    assert "97.5 (expected 23.6 to 47.3)" in message.text
    assert "would run `restart_service` on `web-1`" in message.text
    kinds = [b["type"] for b in message.blocks]
    assert kinds == ["header", "section", "section", "context"]
    assert "corr-42" in json.dumps(message.blocks)


def test_a_decision_not_to_act_says_why() -> None:
    message = render_record(
        _record(
            severity=Severity.LOW,
            action=None,
            status=RemediationStatus.NO_ACTION,
            reason="severity low is below high: watch, do not act",
        )
    )
    assert ":large_blue_circle: LOW" in message.text
    assert "No action: severity low is below high" in message.text


def test_huge_fields_stay_within_slacks_limits() -> None:
    message = render_record(_record(resource_id="i-" + "x" * 250, anomaly_explanation="y" * 10_000))
    header = message.blocks[0]["text"]["text"]
    assert len(header) <= 150
    for block in message.blocks[1:3]:
        assert len(block["text"]["text"]) <= 3000
    assert len(message.text) <= 3000

"""The Slack buttons' contract (shared.slack_buttons), from both sides: every button the
notifier puts on a message reads back under it, and what comes back from Slack is held to it
(the gateway's integration tests click with values made by the same models)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.notifier.core.alerts import GroupMeta, MessageKind, Timing
from services.notifier.core.grouping import FlushPlan, alert_from_event
from services.notifier.core.render import Channel, Links, render_flush, render_record
from shared.events import RemediationStatus, Severity, utcnow
from shared.slack_buttons import (
    BUTTON_VALUE_MAX,
    ActionId,
    AnomalyButton,
    ApprovalButton,
    ButtonValue,
    GroupButton,
)
from tests.support.notifier_events import T0, anomaly, record

READER: dict[str, type[ButtonValue]] = {
    ActionId.ANOMALY_ACKNOWLEDGE: AnomalyButton,
    ActionId.ANOMALY_FALSE_POSITIVE: AnomalyButton,
    ActionId.ANOMALY_SILENCE: AnomalyButton,
    ActionId.GROUP_ACKNOWLEDGE: GroupButton,
    ActionId.GROUP_SILENCE: GroupButton,
    ActionId.APPROVAL_APPROVE: ApprovalButton,
    ActionId.APPROVAL_REJECT: ApprovalButton,
}
META = GroupMeta(
    group_id="0123456789abcdef01234567",
    receiver="slack",
    labels={"metric": "cpu_utilization"},
    timing=Timing(group_wait_s=10, group_interval_s=60, repeat_interval_s=3600),
    created_at=T0.timestamp(),
)
LINKS = Links(grafana=None, record=None)


def buttons(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        element
        for block in payload["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def rendered_payloads() -> list[dict[str, Any]]:
    one = alert_from_event(anomaly(resource_id="web-1"))
    many = [alert_from_event(anomaly(resource_id=f"web-{i}")) for i in range(3)]
    pending = record(
        anomaly(),
        RemediationStatus.PENDING_APPROVAL,
        approval_id=uuid.uuid4().hex,
        expires_at=utcnow() + timedelta(minutes=30),
    )
    return [
        *(r.payload for r in render_flush(FlushPlan(firing=[one]), META, Channel.SLACK, LINKS)),
        *(r.payload for r in render_flush(FlushPlan(firing=many), META, Channel.SLACK, LINKS)),
        render_record(pending, MessageKind.APPROVAL, Channel.SLACK).payload,
    ]


def test_every_button_the_notifier_renders_reads_back_under_the_contract() -> None:
    seen: set[str] = set()
    for payload in rendered_payloads():
        for element in buttons(payload):
            model = READER[ActionId(element["action_id"])]
            value = model.model_validate_json(element["value"])
            assert value.encode() == element["value"]  # nothing lost or added on the way
            assert len(element["value"]) <= BUTTON_VALUE_MAX
            seen.add(element["action_id"])
    assert seen == set(READER)  # every kind of button was rendered and checked


def test_a_silence_button_matches_the_resource_literally() -> None:
    (message,) = render_flush(
        FlushPlan(firing=[alert_from_event(anomaly(resource_id="web-*"))]),
        META,
        Channel.SLACK,
        LINKS,
    )
    (silence,) = [b for b in buttons(message.payload) if b["action_id"] == "scops.anomaly.silence"]
    value = AnomalyButton.model_validate_json(silence["value"])
    assert value.silence == {"resource": "web-[*]", "metric": "cpu_utilization"}


def _approval(**changes: Any) -> str:
    value = {
        "v": 1,
        "approval_id": uuid.uuid4().hex,
        "resource_id": "web-1",
        "anomaly_id": str(uuid.uuid4()),
        "correlation_id": "c",
        **changes,
    }
    return json.dumps(value)


def test_a_value_from_a_newer_notifier_is_read_without_its_new_fields() -> None:
    value = ApprovalButton.model_validate_json(_approval(shown_at="later"))
    assert "shown_at" not in value.model_dump()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"v": 2}, "v"),
        ({"approval_id": "../../remediation/circuit/reset"}, "approval_id"),
        ({"approval_id": "A" * 32}, "approval_id"),
        ({"approval_id": "a" * 64}, "approval_id"),
        ({"anomaly_id": "not-an-id"}, "anomaly_id"),
        ({"resource_id": "x" * 257}, "resource_id"),
        ({"run_id": "r" * 65}, "run_id"),
    ],
)
def test_a_forged_approval_value_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        ApprovalButton.model_validate_json(_approval(**changes))
    assert {error["loc"][0] for error in refused.value.errors()} == {field}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"severity": "apocalyptic"}, "severity"),
        ({"silence_s": 10}, "silence_s"),
        ({"silence_s": 400 * 86400}, "silence_s"),
        ({"metric": ""}, "metric"),
    ],
)
def test_a_forged_anomaly_value_is_refused_naming_the_field(
    changes: dict[str, Any], field: str
) -> None:
    value = {
        "anomaly_id": str(uuid.uuid4()),
        "resource_id": "web-1",
        "metric": "cpu_utilization",
        "severity": Severity.HIGH.value,
        "correlation_id": "c",
        **changes,
    }
    with pytest.raises(ValidationError) as refused:
        AnomalyButton.model_validate({"v": 1, **value})
    assert {error["loc"][0] for error in refused.value.errors()} == {field}


def test_a_group_id_is_the_notifiers_hex_and_nothing_else() -> None:
    GroupButton(group_id=META.group_id, receiver="slack", alerts=3)
    with pytest.raises(ValidationError):
        GroupButton(group_id="../groups", receiver="slack", alerts=3)

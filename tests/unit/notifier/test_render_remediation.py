"""Approval requests and action results: what runs where and why, the buttons a human
answers with, and the command's output within Slack's limits."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from services.notifier.core.alerts import MessageKind
from services.notifier.core.render import Channel, Links, Rendered, record_kind, render_record
from services.notifier.core.render.slack_remediation import decision_summary
from shared.events import RemediationRecord, RemediationStatus, Severity, decode_event
from shared.slack_buttons import ActionId
from tests.support.notifier_events import T0, anomaly, record
from tests.unit.notifier.test_render_alerts import assert_within_slack_limits


def test_approval_request_says_what_where_why_risk_expiry_and_offers_approve_reject() -> None:
    rec = record(
        status=RemediationStatus.PENDING_APPROVAL,
        approval_id="a" * 32,
        expires_at=T0 + timedelta(minutes=30),
        params={"service": "nginx"},
        risk="high",
    )
    message = render_record(rec, MessageKind.APPROVAL, Channel.SLACK)
    assert message.kind == MessageKind.APPROVAL
    assert message.text == (
        ":raised_hand: Approval needed: restart_service on web-1 "
        "(CRITICAL cpu_utilization, expires 18:30 UTC)"
    )
    blocks = message.payload["blocks"]
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "context",
        "actions",
    ]
    assert "*Why:* critical anomaly on cpu_utilization" in blocks[1]["text"]["text"]
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in blocks[2]["fields"]}
    assert fields["*Risk*"] == "high"
    assert fields["*Rule*"] == "`cpu-saturation`"
    assert fields["*Expires*"].startswith("<!date^1795717800^")
    assert '"service": "nginx"' in blocks[3]["text"]["text"]
    approve, reject = blocks[5]["elements"]
    assert (approve["action_id"], reject["action_id"]) == (
        ActionId.APPROVAL_APPROVE,
        ActionId.APPROVAL_REJECT,
    )
    assert approve["style"] == "primary" and reject["style"] == "danger" and "confirm" in approve
    assert json.loads(approve["value"]) == {
        "v": 1,
        "approval_id": "a" * 32,
        "action": "restart_service",
        "resource_id": "web-1",
        "run_id": "r" * 32,
        "anomaly_id": str(rec.anomaly_id),
        "correlation_id": rec.correlation_id,
    }
    assert_within_slack_limits(message.payload)


def test_approval_and_result_texts_cannot_ping_the_channel() -> None:
    """The notification text names the target and the reason a person typed: data, escaped."""
    event = anomaly(resource_id="<!channel>")
    asked = record(event, RemediationStatus.PENDING_APPROVAL, approval_id="a" * 32, expires_at=T0)
    blocked = record(
        event,
        RemediationStatus.BLOCKED,
        blocked_by="deny_list",
        reason="manual request by ana: <!here> please look",
    )
    for rec, kind in ((asked, MessageKind.APPROVAL), (blocked, MessageKind.ACTION_RESULT)):
        text = render_record(rec, kind, Channel.SLACK).payload["text"]
        assert "<" not in text and "&lt;!channel&gt;" in text, text


def test_succeeded_result_gives_duration_exit_code_and_output() -> None:
    rec = record(
        status=RemediationStatus.SUCCEEDED,
        duration_s=12.4,
        exit_code=0,
        output_excerpt="nginx restarted\n",
        executor="ssm",
        command_id="cmd-123",
    )
    message = render_record(rec, MessageKind.ACTION_RESULT, Channel.SLACK)
    assert message.text.startswith(":white_check_mark: Succeeded: restart_service on web-1")
    blocks = message.payload["blocks"]
    assert blocks[0]["text"]["text"] == (":white_check_mark: Succeeded: restart_service on web-1")
    fields = json.dumps(blocks[2]["fields"])
    assert "12 s" in fields and "*Exit code*\\n0" in fields and "cmd-123" in fields
    assert "```nginx restarted```" in blocks[3]["text"]["text"]
    assert_within_slack_limits(message.payload)


def test_blocked_result_names_the_safety_rule() -> None:
    rec = record(
        status=RemediationStatus.BLOCKED,
        blocked_by="cooldown",
        reason="web-1 was acted on 2 minutes ago; cooldown is 5 minutes",
    )
    message = render_record(rec, MessageKind.ACTION_RESULT, Channel.SLACK)
    assert message.text.startswith(
        ":no_entry: Blocked: restart_service on web-1 (blocked by cooldown)"
    )
    assert "*Blocked by:* cooldown" in message.payload["blocks"][1]["text"]["text"]


def test_a_huge_command_output_keeps_its_end_within_the_limits() -> None:
    output = "".join(f"line {i} ```\n" for i in range(20_000)) + "FATAL: disk full"
    rec = record(
        status=RemediationStatus.FAILED,
        output_excerpt=output,
        exit_code=2,
        reason="x" * 10_000,
        target="asg/" + "t" * 3000,
    )
    message = render_record(rec, MessageKind.ACTION_RESULT, Channel.SLACK)
    assert_within_slack_limits(message.payload)
    out = message.payload["blocks"][3]["text"]["text"]
    assert out.endswith("FATAL: disk full```")
    assert out.count("```") == 2  # fences in the output cannot close the block early


def test_every_status_has_its_kind() -> None:
    kinds = {s: record_kind(record(status=s)) for s in RemediationStatus}
    assert kinds[RemediationStatus.PENDING_APPROVAL] == MessageKind.APPROVAL
    for status in ("succeeded", "failed", "blocked", "dry_run", "rejected", "expired"):
        assert kinds[RemediationStatus(status)] == MessageKind.ACTION_RESULT
    for status in ("proposed", "approved", "running", "no_action"):
        assert kinds[RemediationStatus(status)] is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (RemediationStatus.DRY_RUN, "Dry run: would run `restart_service` on `web-1`"),
        (RemediationStatus.NO_ACTION, "No action: critical anomaly on cpu_utilization"),
        (RemediationStatus.PENDING_APPROVAL, "`restart_service` on `web-1` is waiting for"),
        (RemediationStatus.BLOCKED, "`restart_service` blocked by a safety rule"),
    ],
)
def test_decision_summary_is_one_line(status: RemediationStatus, expected: str) -> None:
    summary = decision_summary(record(status=status, reason="critical anomaly\non cpu_utilization"))
    assert summary.startswith(expected)
    assert "\n" not in summary


def test_a_webhook_receiver_gets_the_record_as_json() -> None:
    rec = record(anomaly(), RemediationStatus.FAILED, error_code="Throttling")
    message = render_record(rec, MessageKind.ACTION_RESULT, Channel.WEBHOOK)
    assert message.payload["kind"] == "action_result"
    assert message.payload["record"]["error_code"] == "Throttling"
    assert message.payload["summary"] == message.text


def test_an_action_that_did_not_help_is_a_result_with_what_was_observed() -> None:
    rec = record(
        status=RemediationStatus.NOT_IMPROVED,
        reason="cpu_utilization still 96 five minutes after restart_service",
        observed_metric="cpu_utilization",
        observed_value=96.0,
    )
    assert record_kind(rec) == MessageKind.ACTION_RESULT
    message = render_record(rec, MessageKind.ACTION_RESULT, Channel.SLACK)
    assert message.text.startswith(
        ":chart_with_downwards_trend: Not improved: restart_service on web-1"
    )
    assert "`cpu_utilization` = 96" in json.dumps(message.payload)


def test_a_rule_switched_to_shadow_mode_names_the_rule_and_verified_is_left_to_resolution() -> None:
    shadowed = record(
        status=RemediationStatus.RULE_SHADOWED, action=None, reason="3 actions in a row"
    )
    message = render_record(shadowed, MessageKind.ACTION_RESULT, Channel.SLACK)
    assert message.text.startswith(":eyes: Rule switched to shadow mode: cpu-saturation")
    assert record_kind(record(status=RemediationStatus.VERIFIED)) is None


def test_an_action_nobody_could_verify_is_told_as_not_verified() -> None:
    """An action answering an alert with no metric to judge ends unverified: the team is told,
    since no resolution from the detector will say how it went."""
    rec = record(
        status=RemediationStatus.UNVERIFIED,
        reason="no sample of cpu_utilization to judge restart_service by",
    )
    assert record_kind(rec) == MessageKind.ACTION_RESULT
    message = render_record(rec, MessageKind.ACTION_RESULT, Channel.SLACK)
    assert message.text.startswith(":grey_question: Not verified: restart_service on web-1")


def test_approval_and_result_messages_link_to_the_incident_page() -> None:
    links = Links(console="https://ops.example/console")
    event = anomaly()
    page = f"https://ops.example/console/incidents/{event.event_id}"
    pending = record(
        event,
        RemediationStatus.PENDING_APPROVAL,
        approval_id="b" * 32,
        expires_at=event.occurred_at + timedelta(minutes=30),
    )
    approval = render_record(pending, MessageKind.APPROVAL, Channel.SLACK, links)
    assert f"<{page}|Incident>" in json.dumps(approval.payload)
    done = record(event, RemediationStatus.SUCCEEDED, exit_code=0)
    result = render_record(done, MessageKind.ACTION_RESULT, Channel.SLACK, links)
    assert f"<{page}|Incident>" in json.dumps(result.payload)
    hook = render_record(done, MessageKind.ACTION_RESULT, Channel.WEBHOOK, links)
    assert hook.payload["incident_url"] == page
    unlinked = render_record(done, MessageKind.ACTION_RESULT, Channel.SLACK)
    assert "/incidents/" not in json.dumps(unlinked.payload)  # no console configured


def _fields(message: Rendered) -> dict[str, str]:
    (section,) = [b for b in message.payload["blocks"] if "fields" in b]
    return {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in section["fields"]}


def test_an_action_two_people_approved_names_each_with_channel_and_time() -> None:
    votes = [
        {"by": "ana (key 4f1c)", "via": "api_key", "at": T0, "comment": "ok"},
        {"by": "ben (slack U0BEN)", "via": "slack", "at": T0 + timedelta(minutes=3)},
    ]
    rec = record(status=RemediationStatus.SUCCEEDED, decided_by="ana (key 4f1c), ben", votes=votes)
    fields = _fields(render_record(rec, MessageKind.ACTION_RESULT, Channel.SLACK))
    assert fields["*Approved by*"] == (
        "ana (key 4f1c) via API key at 2026-11-26 18:00:00 UTC\n"
        "ben (slack U0BEN) via Slack at 2026-11-26 18:03:00 UTC"
    )
    assert "*Decided by*" not in fields


def test_a_record_written_before_votes_still_names_who_decided() -> None:
    stored = record(status=RemediationStatus.REJECTED, decided_by="ana, ben").model_dump(
        mode="json", exclude={"votes"}
    )
    old = decode_event(RemediationRecord.TYPE, json.dumps({**stored, "schema_version": "1.4"}))
    assert isinstance(old, RemediationRecord) and old.votes == []
    fields = _fields(render_record(old, MessageKind.ACTION_RESULT, Channel.SLACK))
    assert fields["*Decided by*"] == "ana, ben"
    assert "*Approved by*" not in fields and "*Rejected by*" not in fields


def test_a_manual_requests_messages_say_manual_request_not_a_severity_on_a_metric() -> None:
    """A restart asked by hand has no anomaly: the remediator names its metric "manual".
    Slack must not read "MEDIUM manual" or "MEDIUM on `manual`" as if a metric had fired."""
    manual = anomaly(
        resource_id="web-9",
        metric="manual",
        severity=Severity.MEDIUM,
        explanation="manual request by ana (key 1a2b): stuck workers",
    )
    fields = {"anomaly_value": None, "expected_low": None, "expected_high": None}
    result = render_record(
        record(manual, RemediationStatus.SUCCEEDED, **fields),
        MessageKind.ACTION_RESULT,
        Channel.SLACK,
    )
    assert result.text.startswith(
        ":white_check_mark: Succeeded: restart_service on web-9 — manual request. "
    ), result.text
    why = result.payload["blocks"][1]["text"]["text"]
    assert "`manual`" not in why and "MEDIUM" not in why, why
    assert ":bust_in_silhouette: Manual request by ana (key 1a2b): stuck workers" in why, why
    asked = record(
        manual,
        RemediationStatus.PENDING_APPROVAL,
        approval_id="a" * 32,
        expires_at=T0 + timedelta(minutes=30),
        **fields,
    )
    approval = render_record(asked, MessageKind.APPROVAL, Channel.SLACK)
    assert approval.text.endswith("on web-9 (manual request, expires 18:30 UTC)"), approval.text


def test_a_manual_requests_result_says_manual_request_once() -> None:
    """The remediator's reason for a manual request already starts "manual request by ...":
    the one-line text does not say it twice ("manual request. manual request by ana")."""
    manual = anomaly(resource_id="web-9", metric="manual", explanation="manual request by ana")
    reason = "manual request by ana (key 1a2b): asked in ChatOps: restart nginx on web-9"
    rec = record(
        manual,
        RemediationStatus.DRY_RUN,
        anomaly_value=None,
        expected_low=None,
        expected_high=None,
        reason=reason,
    )
    text = render_record(rec, MessageKind.ACTION_RESULT, Channel.SLACK).text
    assert text.endswith(f"on web-9 — {reason}"), text
    assert text.lower().count("manual request") == 1, text

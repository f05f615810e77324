"""Anomaly, group and resolution messages: what an on-call engineer reads, as Block Kit,
within Slack's limits whatever the input."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from services.notifier.core.alerts import Alert, Decision, GroupMeta, MessageKind, Timing
from services.notifier.core.grouping import FlushPlan, alert_from_event, apply_resolution
from services.notifier.core.render import Channel, Links, render_flush
from shared.events import RemediationStatus, Severity
from shared.slack_buttons import ActionId
from tests.support.notifier_events import T0, anomaly, resolved

META = GroupMeta(
    group_id="a" * 24,
    receiver="slack",
    labels={"metric": "cpu_utilization"},
    timing=Timing(group_wait_s=10, group_interval_s=60, repeat_interval_s=3600),
    created_at=T0.timestamp(),
)
LINKS = Links(
    grafana="https://grafana.example/d/x?var-resource={resource_id}&from={from_ms}",
    record="https://ops.example/anomalies/{anomaly_id}",
)


def _alert(**fields: Any) -> Alert:
    return alert_from_event(anomaly(**fields))


def _one(plan: FlushPlan, channel: Channel = Channel.SLACK) -> tuple[str, dict[str, Any]]:
    (rendered,) = render_flush(plan, META, channel, LINKS)
    return rendered.text, rendered.payload


def assert_within_slack_limits(payload: dict[str, Any]) -> None:
    blocks = payload["blocks"]
    assert len(blocks) <= 50
    assert len(payload["text"]) <= 3000
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        if block["type"] == "actions":
            for element in block["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element["value"]) <= 2000
                assert len(element["action_id"]) <= 255


def test_anomaly_message_says_severity_where_what_against_what_why_and_offers_buttons() -> None:
    decision = Decision(
        status=RemediationStatus.DRY_RUN,
        summary="Dry run: would run `restart_service` on `web-1`",
        event_id="e",
    )
    alert = _alert(lasted_s=125.0).model_copy(update={"decision": decision})
    text, payload = _one(FlushPlan(firing=[alert]))
    assert text.startswith(":red_circle: CRITICAL: cpu_utilization on web-1")
    assert "97.5 (expected 23.6 to 47.3)" in text
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context", "actions"]
    body = payload["blocks"][1]["text"]["text"]
    assert "lasting 2 min" in body
    assert "14 robust deviations" in body
    assert "*Decision:* Dry run: would run `restart_service` on `web-1`" in body
    context = json.dumps(payload["blocks"][2])
    assert "corr-web-1-cpu_utilization" in context
    assert "https://grafana.example/d/x?var-resource=web-1&from=" in context
    assert f"https://ops.example/anomalies/{alert.anomaly_id}" in context
    buttons = payload["blocks"][3]["elements"]
    assert [b["action_id"] for b in buttons] == [
        ActionId.ANOMALY_ACKNOWLEDGE,
        ActionId.ANOMALY_FALSE_POSITIVE,
        ActionId.ANOMALY_SILENCE,
    ]
    ack = json.loads(buttons[0]["value"])
    assert ack == {
        "v": 1,
        "anomaly_id": alert.anomaly_id,
        "resource_id": "web-1",
        "metric": "cpu_utilization",
        "severity": "critical",
        "correlation_id": "corr-web-1-cpu_utilization",
    }
    silence = json.loads(buttons[2]["value"])
    assert silence["silence_s"] == 3600
    assert silence["silence"] == {"resource": "web-1", "metric": "cpu_utilization"}
    assert "confirm" in buttons[2]
    assert_within_slack_limits(payload)


def test_text_from_events_is_escaped_for_mrkdwn() -> None:
    alert = _alert(explanation="load <script> & more", resource_id="web*1[a]")
    _, payload = _one(FlushPlan(firing=[alert]))
    body = payload["blocks"][1]["text"]["text"]
    assert "load &lt;script&gt; &amp; more" in body
    silence = json.loads(payload["blocks"][3]["elements"][2]["value"])
    assert silence["silence"]["resource"] == "web[*]1[[]a]"  # a glob matching only this id


def test_a_notification_text_cannot_ping_the_channel_or_hide_a_link() -> None:
    """A resource id is any visible text an ingest key sends: in the top-level text (what a
    phone shows, read as mrkdwn too) ``<!channel>`` would ping everyone."""
    for rid in ("<!channel>", "<https://evil.example/login|web-1>"):
        event = anomaly(resource_id=rid)
        single = alert_from_event(event)
        for plan in (
            FlushPlan(firing=[single]),
            FlushPlan(firing=[single, _alert(resource_id="web-2")]),
            FlushPlan(resolved=[apply_resolution(single, resolved(event))[0]]),
        ):
            _, payload = _one(plan)
            assert "<" not in payload["text"] and "&lt;" in payload["text"], payload["text"]


def test_an_escalation_and_a_reminder_say_what_they_are() -> None:
    escalated = _alert().model_copy(update={"notified_severity": Severity.HIGH})
    _, payload = _one(FlushPlan(firing=[escalated]))
    assert "_Escalated_ from high" in payload["blocks"][1]["text"]["text"]
    _, payload = _one(FlushPlan(firing=[_alert()], repeat=True))
    assert "_Still firing_" in payload["blocks"][1]["text"]["text"]


def test_a_very_long_resource_name_and_explanation_stay_within_limits() -> None:
    alert = _alert(
        resource_id="i-" + "x" * 254, metric="m" * 128, explanation="<&>" * 5000, lasted_s=1e7
    )
    text, payload = _one(FlushPlan(firing=[alert]))
    assert_within_slack_limits(payload)
    assert text.endswith("…") or len(text) < 3000
    assert payload["blocks"][0]["text"]["text"].endswith("…")
    assert not payload["blocks"][1]["text"]["text"].endswith("&…")  # no half entity


def test_many_alerts_become_one_group_message_worst_first() -> None:
    alerts = [
        _alert(resource_id=f"web-{i:02d}", severity=Severity.HIGH if i % 2 else Severity.CRITICAL)
        for i in range(12)
    ]
    text, payload = _one(FlushPlan(firing=alerts))
    assert text.startswith(":red_circle: 12 anomalies · cpu_utilization: web-00, web-02, web-04")
    blocks = payload["blocks"]
    assert blocks[0]["text"]["text"] == ":red_circle: 12 anomalies · cpu_utilization"
    assert "*6 critical, 6 high* on 12 resources" in blocks[1]["text"]["text"]
    listing = blocks[2]["text"]["text"]
    assert listing.count("\n") == 11 and listing.index("web-00") < listing.index("web-01")
    actions = blocks[-1]["elements"]
    assert [a["action_id"] for a in actions] == [
        ActionId.GROUP_ACKNOWLEDGE,
        ActionId.GROUP_SILENCE,
    ]
    value = json.loads(actions[1]["value"])
    assert value["group_id"] == META.group_id and value["alerts"] == 12
    assert value["silence"] == {"metric": "cpu_utilization"}
    assert_within_slack_limits(payload)


def test_a_huge_group_lists_what_fits_and_counts_the_rest() -> None:
    alerts = [_alert(resource_id=f"i-{i:04d}-" + "y" * 200) for i in range(500)]
    _, payload = _one(FlushPlan(firing=alerts))
    assert_within_slack_limits(payload)
    context = payload["blocks"][-2]["elements"][0]["text"]
    assert "460 more not listed" in context


def test_resolution_message_gives_the_incidents_duration() -> None:
    event = anomaly()
    alert, _ = apply_resolution(alert_from_event(event), resolved(event, after_s=840))
    text, payload = _one(FlushPlan(resolved=[alert]))
    assert text == (
        ":white_check_mark: RESOLVED: cpu_utilization on web-1, back to normal after 14 min"
    )
    body = payload["blocks"][1]["text"]["text"]
    assert "Back to normal after *14 min*" in body and "peak critical" in body
    assert_within_slack_limits(payload)


def test_a_series_gone_silent_is_told_no_data_not_back_to_normal() -> None:
    event = anomaly()
    silent = resolved(event, after_s=1800).model_copy(update={"reason": "no_data"})
    alert, news = apply_resolution(alert_from_event(event), silent)
    assert news
    text, payload = _one(FlushPlan(resolved=[alert]))
    assert text.startswith(
        ":white_check_mark: NO DATA: cpu_utilization on web-1 sent nothing since"
    )
    assert "not recovered" in text and "back to normal" not in text
    header = payload["blocks"][0]["text"]["text"]
    body = payload["blocks"][1]["text"]["text"]
    assert header.startswith(":white_check_mark: NO DATA")
    assert "No samples since" in body and "anomalous for 30 min" in body
    assert "Back to normal" not in body
    assert_within_slack_limits(payload)
    other = anomaly(resource_id="web-2", at=T0 + timedelta(seconds=1))
    back = apply_resolution(alert_from_event(other), resolved(other))[0]
    (rendered,) = render_flush(FlushPlan(resolved=[alert, back]), META, Channel.SLACK, LINKS)
    lines = json.dumps(rendered.payload)
    assert "went silent, anomalous for 30 min" in lines and "after 14 min" in lines


def test_several_resolutions_are_one_message() -> None:
    alerts = []
    for i in range(3):
        event = anomaly(resource_id=f"web-{i}", at=T0 + timedelta(seconds=i))
        alerts.append(apply_resolution(alert_from_event(event), resolved(event))[0])
    (rendered,) = render_flush(FlushPlan(resolved=alerts), META, Channel.SLACK, LINKS)
    assert rendered.kind == MessageKind.RESOLVED
    assert rendered.text.startswith(":white_check_mark: 3 resolved: web-0, web-1, web-2")


def test_a_flush_with_news_and_resolutions_makes_two_messages() -> None:
    event = anomaly(resource_id="db-1")
    gone, _ = apply_resolution(alert_from_event(event), resolved(event))
    rendered = render_flush(
        FlushPlan(firing=[_alert()], resolved=[gone]), META, Channel.SLACK, LINKS
    )
    assert [r.kind for r in rendered] == [MessageKind.ANOMALY, MessageKind.RESOLVED]


def test_a_webhook_receiver_gets_the_same_facts_as_json() -> None:
    alerts = [_alert(resource_id="web-1"), _alert(resource_id="web-2", severity=Severity.HIGH)]
    text, payload = _one(FlushPlan(firing=alerts), Channel.WEBHOOK)
    assert payload["schema"] == "smartcloudops.notification.v1"
    assert payload["kind"] == "anomaly_group" and payload["severity"] == "critical"
    assert payload["summary"] == text
    assert [a["resource_id"] for a in payload["alerts"]] == ["web-1", "web-2"]
    assert payload["alerts"][0]["links"]["Record"].startswith("https://ops.example/anomalies/")
    assert payload["group"] == {"id": META.group_id, "labels": {"metric": "cpu_utilization"}}


def test_only_news_carries_the_sample_times_the_notified_latency_starts_from() -> None:
    alerts = [_alert(resource_id="web-1"), _alert(resource_id="web-2", at=T0 + timedelta(1))]
    (news,) = render_flush(FlushPlan(firing=alerts), META, Channel.SLACK, LINKS)
    assert sorted(news.anomalies_observed_at) == [T0, T0 + timedelta(1)]
    (reminder,) = render_flush(FlushPlan(firing=alerts, repeat=True), META, Channel.SLACK, LINKS)
    assert reminder.anomalies_observed_at == ()
    event = anomaly(resource_id="db-1")
    gone, _ = apply_resolution(alert_from_event(event), resolved(event))
    (resolution,) = render_flush(FlushPlan(resolved=[gone]), META, Channel.SLACK, LINKS)
    assert resolution.anomalies_observed_at == ()


def test_an_anomaly_message_links_first_to_its_incident_page_when_a_console_is_set() -> None:
    alert = _alert()
    links = Links(grafana=LINKS.grafana, console="https://ops.example/console")
    (rendered,) = render_flush(FlushPlan(firing=[alert]), META, Channel.SLACK, links)
    context = rendered.payload["blocks"][-2]["elements"][-1]["text"]
    page = f"https://ops.example/console/incidents/{alert.anomaly_id}"
    assert context.startswith(f"<{page}|Incident> · <https://grafana.example/")


def _acted(alert: Alert) -> Alert:
    decision = Decision(
        status=RemediationStatus.SUCCEEDED,
        summary=f"Ran `restart_service` on `{alert.resource_id}`: succeeded",
        event_id=f"record-{alert.resource_id}",
    )
    return alert.model_copy(update={"decision": decision})


def test_every_action_in_a_group_too_long_to_list_is_still_named() -> None:
    # A decision folded into a group's first message is the only word Slack gets of it: an
    # action on a resource past the listed lines would go unnamed.
    quiet = [_alert(resource_id=f"web-{i:02d}") for i in range(45)]
    acted = [_acted(_alert(resource_id=f"web-{i:02d}")) for i in range(45, 50)]
    _, payload = _one(FlushPlan(firing=quiet + acted))
    listing = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert all(f"`web-{i:02d}`" in listing for i in range(45, 50))
    assert "10 more not listed" in payload["blocks"][-2]["elements"][0]["text"]

    many = [_acted(_alert(resource_id=f"db-{i:02d}")) for i in range(45)]
    _, payload = _one(FlushPlan(firing=many))
    text = json.dumps(payload)
    assert all(f"db-{i:02d}" in text for i in range(45))
    assert_within_slack_limits(payload)


def _decided(alert: Alert, status: RemediationStatus) -> Alert:
    decision = Decision(
        status=status, summary=f"{status.value} on `{alert.resource_id}`", event_id="r"
    )
    return alert.model_copy(update={"decision": decision})


def test_a_burst_no_rule_acts_on_is_not_said_to_have_been_acted_on() -> None:
    """A burst of alerts no rule covers: each carries the remediator's decision ("no action:
    no rule covers metric NodeDown"), and nothing ran. The resources past the listed lines
    are only counted, never named as "acted on"; those an action did run on still are, and
    are listed before the decisions that did nothing."""
    nothing = [
        _decided(_alert(resource_id=f"node-{i:03d}"), status)
        for i, status in enumerate(
            [RemediationStatus.NO_ACTION] * 60
            + [RemediationStatus.DRY_RUN, RemediationStatus.BLOCKED, RemediationStatus.PROPOSED]
        )
    ]
    ran = [_acted(_alert(resource_id=f"web-{i}")) for i in range(2)]
    _, payload = _one(FlushPlan(firing=nothing + ran))
    context = payload["blocks"][-2]["elements"][0]["text"]
    assert "more not listed" in context
    assert "acted on" not in context or "node-" not in context.split("acted on")[1], context
    listing = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert "`web-0`" in listing and "`web-1`" in listing
    assert listing.index("web-0") < listing.index("node-000")
    assert_within_slack_limits(payload)


def test_an_alert_from_alertmanager_claims_no_expected_range() -> None:
    """An Alertmanager alert has no band: the gateway gives it its ``value`` annotation (else 1)
    as value and both bounds. "1 (expected 1 to 1)" read as a value inside its range; the
    value alone is what is known. A detector's band stays, however narrow."""
    alert = _alert(
        metric="HighCPU",
        value=97.2,
        expected_low=97.2,
        expected_high=97.2,
        detectors=["alertmanager"],
        explanation="CPU above 95 % for 5 minutes",
    )
    text, payload = _one(FlushPlan(firing=[alert]))
    assert "expected" not in text and "97.2" in text, text
    assert "expected" not in payload["blocks"][1]["text"]["text"]
    stuck = _alert(value=5.0, expected_low=0.0, expected_high=0.0)
    text, _ = _one(FlushPlan(firing=[stuck]))
    assert "5 (expected 0 to 0)" in text, text


def test_an_alert_from_alertmanager_offers_no_false_positive_button() -> None:
    """ "False positive" tunes the detector's model of the series; an Alertmanager alert has
    none, and the button only ever answered "the detector did not take the feedback: anomaly
    ... is unknown". Acknowledge and Silence stay."""
    alert = _alert(metric="HighCPU", detectors=["alertmanager"], value=1.0)
    _, payload = _one(FlushPlan(firing=[alert]))
    buttons = [e["action_id"] for e in payload["blocks"][-1]["elements"]]
    assert buttons == [ActionId.ANOMALY_ACKNOWLEDGE, ActionId.ANOMALY_SILENCE]


def test_a_resolution_alertmanager_sent_gives_no_last_value() -> None:
    """Alertmanager's resolved alert carries the value annotation it fired with (93.5), not a
    measurement: "back to normal · last value 93.5" would contradict itself."""
    event = anomaly(value=93.5, expected_low=93.5, expected_high=93.5, detectors=["alertmanager"])
    ended = resolved(event, after_s=660).model_copy(
        update={"last_value": 93.5, "source": "alertmanager"}
    )
    alert, _ = apply_resolution(alert_from_event(event), ended)
    _, payload = _one(FlushPlan(resolved=[alert]))
    body = payload["blocks"][1]["text"]["text"]
    assert "last value" not in body, body
    assert body.startswith(
        "Back to normal after *11 min* · peak critical · resolved by Alertmanager"
    )

"""A burst: 100 anomalies on 50 resources within the group window become a few grouped
messages, routed by severity (critical also to a JSON webhook)."""

from __future__ import annotations

import json
from datetime import timedelta

from services.notifier.config import DEFAULT_RECEIVER
from shared.events import AnomalyEvent, Severity, utcnow
from tests.integration.notifier.conftest import Start, accepted_at, eventually
from tests.support.notifier_events import anomaly
from tests.support.slack_standin import SlackStandIn

RESOURCES = [f"web-{i:02d}" for i in range(50)]
METRICS = ["cpu_utilization", "memory_utilization"]


def burst() -> list[AnomalyEvent]:
    """Two anomalies per resource (cpu and memory); the first ten resources' cpu is critical."""
    at = utcnow()
    events = []
    for i, resource in enumerate(RESOURCES):
        for metric in METRICS:
            critical = metric == "cpu_utilization" and i < 10
            events.append(
                anomaly(
                    resource,
                    metric,
                    Severity.CRITICAL if critical else Severity.HIGH,
                    at=at + timedelta(milliseconds=i),
                )
            )
    return events


async def test_a_burst_of_100_anomalies_on_50_resources_is_two_messages(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier(group_wait_s=1.5, group_interval_s=5)
    events = burst()
    assert len(events) == 100 and len({e.resource_id for e in events}) == 50
    await running.publish(*events)
    await eventually(lambda: len(slack.accepted) == 2, what="two grouped messages")
    await running.settled()
    assert len(slack.received) == 2
    by_metric = {m: next(b for b in slack.accepted if m in b["text"]) for m in METRICS}
    cpu, memory = by_metric["cpu_utilization"], by_metric["memory_utilization"]
    assert cpu["blocks"][0]["text"]["text"] == ":red_circle: 50 anomalies · cpu_utilization"
    assert "*10 critical, 40 high* on 50 resources" in json.dumps(cpu)
    assert memory["blocks"][0]["text"]["text"] == (
        ":large_orange_circle: 50 anomalies · memory_utilization"
    )
    for body in (cpu, memory):
        listed = json.dumps(body)
        assert all(f"`{r}`" in listed for r in RESOURCES[:40])
    rows = await running.deliveries()
    assert sorted(len(r["source_event_ids"]) for r in rows) == [50, 50]
    assert {r["kind"] for r in rows} == {"anomaly_group"}


async def test_critical_anomalies_also_reach_a_webhook_grouped_by_severity(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier(
        group_wait_s=1.5,
        group_interval_s=5,
        notify_receivers=[{"name": "pager", "type": "webhook", "url": slack.webhook("PAGER")}],
        notify_routes=[
            {
                "match": {"severities": ["critical"]},
                "receivers": ["pager"],
                "continue": True,
                "group_by": ["severity"],
                "group_wait_s": 1.0,
            },
            {"receivers": [DEFAULT_RECEIVER]},
        ],
    )
    await running.publish(*burst())
    await eventually(lambda: len(slack.accepted) == 3, what="two Slack messages, one page")
    await running.settled()
    assert len(slack.received) == 3
    (page,) = accepted_at(slack, "PAGER")
    assert page["schema"] == "smartcloudops.notification.v1"
    assert page["kind"] == "anomaly_group" and page["severity"] == "critical"
    assert sorted(a["resource_id"] for a in page["alerts"]) == RESOURCES[:10]
    slack_messages = accepted_at(slack, "XXXX")
    assert len(slack_messages) == 2
    assert any("*10 critical, 40 high* on 50 resources" in json.dumps(b) for b in slack_messages)
    receivers = sorted(r["receiver"] for r in await running.deliveries())
    assert receivers == ["pager", DEFAULT_RECEIVER, DEFAULT_RECEIVER]

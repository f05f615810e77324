"""Each kind of message, end to end through the notifier to the Slack stand-in: an anomaly
with its decision, an approval request, an action result, a resolution; silences and
acknowledgements through the API."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from shared.events import AnomalyEvent, AnomalyResolved, RemediationStatus, Severity, utcnow
from shared.slack_buttons import ActionId
from tests.integration.notifier.conftest import ADMIN, Start, eventually
from tests.support.notifier_events import anomaly, record, resolved
from tests.support.slack_standin import SlackStandIn


def now_anomaly(**fields: Any) -> AnomalyEvent:
    return anomaly(at=utcnow(), **fields)


def action_ids(body: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in body["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


async def test_an_anomaly_and_its_decision_are_one_message(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier()
    event = anomaly(at=utcnow())
    await running.publish(event, record(event, RemediationStatus.DRY_RUN))
    await eventually(lambda: len(slack.accepted) == 1)
    await running.settled()  # nothing else comes
    (body,) = slack.accepted
    assert body["text"].startswith(":red_circle: CRITICAL: cpu_utilization on web-1")
    assert "Dry run: would run `restart_service` on `web-1`" in json.dumps(body)
    assert action_ids(body) == [
        ActionId.ANOMALY_ACKNOWLEDGE,
        ActionId.ANOMALY_FALSE_POSITIVE,
        ActionId.ANOMALY_SILENCE,
    ]
    (row,) = await running.deliveries()
    assert row["kind"] == "anomaly" and row["correlation_id"] == event.correlation_id
    assert row["source_event_ids"] == [str(event.event_id)]


def _notified() -> tuple[float, float]:
    """Count and sum of the pipeline latency's notified stage."""
    stage = {"stage": "notified"}
    count = REGISTRY.get_sample_value("scops_pipeline_latency_seconds_count", stage)
    total = REGISTRY.get_sample_value("scops_pipeline_latency_seconds_sum", stage)
    return count or 0.0, total or 0.0


async def test_the_message_about_an_anomaly_measures_sample_to_notified_once(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    count, total = _notified()
    running = await start_notifier()
    event = anomaly(at=utcnow() - timedelta(seconds=20))
    await running.publish(event, record(event, RemediationStatus.DRY_RUN))
    await eventually(lambda: _notified()[0] > count, what="a notified latency")
    await running.settled()  # nothing else comes
    assert len(slack.accepted) == 1
    after_count, after_total = _notified()
    assert after_count - count == 1
    assert 20 <= after_total - total < 30


async def test_an_approval_request_always_has_its_own_message_with_buttons(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier()
    event = anomaly(at=utcnow())
    pending = record(
        event,
        RemediationStatus.PENDING_APPROVAL,
        approval_id="b" * 32,
        expires_at=utcnow() + timedelta(minutes=30),
    )
    await running.publish(event, pending)
    await eventually(lambda: len(slack.accepted) == 2)
    # (each delivery is recorded once Slack has answered it: wait for the records too)
    kinds = {row["kind"]: row for row in await running.wait_deliveries(2)}
    assert set(kinds) == {"anomaly", "approval"}
    approval = next(b for b in slack.accepted if b["text"].startswith(":raised_hand:"))
    assert action_ids(approval) == [ActionId.APPROVAL_APPROVE, ActionId.APPROVAL_REJECT]
    anomaly_message = next(b for b in slack.accepted if b is not approval)
    assert "waiting for approval" in json.dumps(anomaly_message)


async def test_a_result_after_the_anomaly_was_told_is_a_message_of_its_own(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier()
    event = anomaly(at=utcnow())
    await running.publish(event)
    await eventually(lambda: len(slack.accepted) == 1)
    result = record(
        event, RemediationStatus.SUCCEEDED, duration_s=42.0, exit_code=0, output_excerpt="ok\n"
    )
    await running.publish(result)
    await eventually(lambda: len(slack.accepted) == 2)
    body = slack.accepted[1]
    assert body["text"].startswith(":white_check_mark: Succeeded: restart_service on web-1")
    assert "```ok```" in json.dumps(body)


async def test_a_resolution_is_told_after_the_group_interval(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # The interval spaces the moments a group speaks (its messages are made), as in
    # Alertmanager; how long each message then takes to reach Slack is the receiver's and
    # is not part of it, so the spacing is read from the records, not from Slack's clock.
    running = await start_notifier(group_interval_s=0.5)
    event = anomaly(at=utcnow())
    await running.publish(event)
    await eventually(lambda: len(slack.accepted) == 1)
    await running.publish(resolved(event, after_s=300))
    await eventually(lambda: len(slack.accepted) == 2)
    assert slack.accepted[1]["text"] == (
        ":white_check_mark: RESOLVED: cpu_utilization on web-1, back to normal after 5 min"
    )
    resolution, first = await running.wait_deliveries(2)
    spoke = datetime.fromisoformat(resolution["created_at"])
    # (to the microsecond the records keep)
    assert spoke - datetime.fromisoformat(first["created_at"]) >= timedelta(seconds=0.499_999)
    groups = (await running.api.get("/notifications/groups")).json()
    assert groups == []  # the group is over


async def test_a_group_that_opens_again_after_it_ended_is_told_again(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # A group is over once all its alerts are resolved and told; the next anomaly routed to
    # it opens it again. Its messages must not pass for the ones the group sent before (and
    # be skipped as already delivered): the SRE would not hear of the new incident at all.
    running = await start_notifier(group_interval_s=0.3)
    first = anomaly(resource_id="web-1", at=utcnow())
    await running.publish(first)
    await eventually(lambda: len(slack.accepted) == 1)
    await running.publish(resolved(first, after_s=300))
    await eventually(lambda: len(slack.accepted) == 2)
    assert (await running.api.get("/notifications/groups")).json() == []  # over
    again = anomaly(resource_id="web-2", at=utcnow())
    await running.publish(again)
    await eventually(lambda: len(slack.accepted) == 3, what="the reopened group's message")
    assert "web-2" in slack.accepted[2]["text"]
    await running.publish(resolved(again, after_s=120))
    await eventually(lambda: len(slack.accepted) == 4, what="its resolution")
    assert slack.accepted[3]["text"].startswith(":white_check_mark: RESOLVED")
    assert "web-2" in slack.accepted[3]["text"]


async def test_a_past_episodes_resolution_told_again_does_not_resolve_the_next_one(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # The detector publishes a resolution again, with its id, when it replays its samples
    # after a restart; the stream hands an entry over again after a consumer died. The series
    # went wrong again meanwhile: the old resolution is about the episode that ended, and
    # must not tell the SRE that the one still firing is over.
    running = await start_notifier(group_interval_s=0.3)
    first = anomaly(resource_id="web-1", at=utcnow() - timedelta(minutes=10))
    await running.publish(first)
    await eventually(lambda: len(slack.accepted) == 1)
    over = resolved(first, after_s=120)
    over = over.model_copy(update={"event_id": AnomalyResolved.derive_id(first.event_id)})
    await running.publish(over)
    await eventually(lambda: len(slack.accepted) == 2)
    again = anomaly(resource_id="web-1", at=utcnow())
    await running.publish(again)
    await eventually(lambda: len(slack.accepted) == 3, what="the next episode's message")
    assert slack.accepted[2]["text"].startswith(":red_circle: CRITICAL")

    await running.publish(over)  # the first episode's resolution, published again
    await running.settled()
    assert [b["text"].split(":")[1] for b in slack.accepted[3:]] == [], "told resolved"
    (group,) = (await running.api.get("/notifications/groups")).json()
    assert group["alerts"] == 1  # still firing, still held

    await running.publish(resolved(again, after_s=60))  # its own resolution
    await eventually(lambda: len(slack.accepted) == 4, what="its resolution")
    assert slack.accepted[3]["text"].startswith(":white_check_mark: RESOLVED")


async def test_records_from_long_ago_and_lapsed_approvals_are_not_sent(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier()
    old = anomaly(at=utcnow() - timedelta(hours=13))
    lapsed = record(
        anomaly(resource_id="web-2", at=utcnow()),
        RemediationStatus.PENDING_APPROVAL,
        approval_id="c" * 32,
        expires_at=utcnow() - timedelta(seconds=1),
    )
    old_result = record(old, RemediationStatus.FAILED, occurred_at=old.occurred_at)
    await running.publish(old, old_result, lapsed)
    await running.publish(record(anomaly(resource_id="web-3"), RemediationStatus.SUCCEEDED))
    await eventually(lambda: len(slack.accepted) == 1)
    await running.settled()
    assert len(slack.accepted) == 1  # only the fresh result
    assert "web-3" in slack.accepted[0]["text"]


async def test_a_silence_mutes_what_it_matches_until_it_is_ended(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier()
    body = {
        "matchers": {"resource": "web-*"},
        "duration_s": 3600,
        "created_by": "ana",
        "comment": "load test",
    }
    assert (await running.api.post("/notifications/silences", json=body)).status_code == 401
    created = await running.api.post("/notifications/silences", json=body, headers=ADMIN)
    assert created.status_code == 201, created.text
    silence_id = created.json()["id"]
    listed = (await running.api.get("/notifications/silences")).json()
    assert [s["id"] for s in listed] == [silence_id]

    await running.publish(now_anomaly(resource_id="web-1"), now_anomaly(resource_id="db-1"))
    await eventually(lambda: len(slack.accepted) == 1)
    await running.settled()
    assert ["db-1" in b["text"] for b in slack.accepted] == [True]

    ended = await running.api.delete(f"/notifications/silences/{silence_id}", headers=ADMIN)
    assert ended.status_code == 200
    missing = await running.api.delete(f"/notifications/silences/{silence_id}", headers=ADMIN)
    assert missing.status_code == 404
    await running.publish(now_anomaly(resource_id="web-2", metric="memory_utilization"))
    await eventually(lambda: len(slack.accepted) == 2)


async def test_acknowledged_alerts_are_not_repeated(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier(repeat_interval_s=0.7)
    await running.publish(now_anomaly(severity=Severity.HIGH))
    await eventually(lambda: len(slack.accepted) == 2, what="the message and one repeat")
    assert "Still firing" in json.dumps(slack.accepted[1])
    ack = await running.api.post(
        "/notifications/acknowledgements",
        headers=ADMIN,
        json={"by": "ana", "resource_id": "web-1", "metric": "cpu_utilization"},
    )
    assert ack.status_code == 200 and ack.json() == {"acknowledged": 1}
    count = len(slack.accepted)
    await running.settled()  # its next look is the alert's expiry, hours away: no repeat
    assert len(slack.accepted) == count


@pytest.mark.parametrize(
    ("when", "field"),
    [
        ({"starts_at": "2000-01-01T00:00:00Z", "duration_s": 60}, "duration_s"),
        ({"starts_at": "2000-01-01T00:00:00Z", "ends_at": "2000-01-01T01:00:00Z"}, "ends_at"),
    ],
)
async def test_a_silence_already_over_is_refused_not_created_out_of_reach(
    start_notifier: Start, when: dict[str, object], field: str
) -> None:
    """A silence that ended before it was asked for would mute nothing, and, not active, it
    could be neither listed nor ended: it is refused naming the field that ends it."""
    running = await start_notifier()
    body = {"matchers": {"resource": "web-*"}, "created_by": "ana", **when}
    reply = await running.api.post("/notifications/silences", json=body, headers=ADMIN)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    errors = reply.json()["errors"]
    assert [e["field"] for e in errors] == [field], errors
    assert "already over" in errors[0]["reason"]
    assert (await running.api.get("/notifications/silences")).json() == []

"""Delivery against the Slack stand-in: retries until accepted, Retry-After honoured, a
per-receiver rate limit, dead letters with the last error and their replay; nothing lost,
nothing sent twice."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time

import pytest
from redis.asyncio import Redis

from services.notifier import redis_keys
from shared.events import Notification, RemediationStatus, decode_event
from shared.streams import NOTIFICATIONS
from tests.integration.notifier.conftest import ADMIN, Start, eventually
from tests.support.notifier_events import anomaly, record
from tests.support.slack_standin import SlackStandIn


async def test_500_three_times_then_200_delivers_one_message_once(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    slack.answer(500, times=3)
    running = await start_notifier()
    failed = record(status=RemediationStatus.FAILED, exit_code=1, output_excerpt="boom")
    await running.publish(failed)
    await eventually(lambda: len(slack.accepted) == 1, what="one accepted message")
    await running.publish(failed)  # a redelivered record queues nothing new
    (row,) = await running.wait_deliveries()
    assert row["status"] == "delivered" and row["attempts"] == 4 and row["kind"] == "action_result"
    await running.settled()  # everything taken in and delivered: no duplicate came
    assert [r.status for r in slack.received] == [500, 500, 500, 200]
    assert await running.pending() == 0
    assert await running.redis.exists(redis_keys.sent(row["message_id"]))


async def test_429_with_retry_after_is_waited_at_least_that_long(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    slack.answer(429, {"Retry-After": "1"})
    running = await start_notifier()
    await running.publish(record(status=RemediationStatus.SUCCEEDED))
    await eventually(lambda: len(slack.accepted) == 1)
    first, second = slack.received
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= 1.0


async def test_the_entry_stays_pending_until_the_receiver_accepted(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    slack.answer(503, {"Retry-After": "1"})
    running = await start_notifier()
    await running.publish(record(status=RemediationStatus.SUCCEEDED))
    await eventually(lambda: len(slack.received) == 1)
    assert await running.pending() == 1
    assert await running.deliveries() == []
    await running.wait_deliveries()
    assert await running.pending() == 0


async def test_a_refused_message_is_dead_lettered_with_its_last_error_then_replayed(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    slack.answer(503, times=2)
    running = await start_notifier(delivery_attempts=2)
    await running.publish(record(status=RemediationStatus.BLOCKED, blocked_by="cooldown"))
    await eventually(lambda: len(slack.received) == 2)
    (row,) = await running.wait_deliveries(status="dead_lettered")
    assert row["attempts"] == 2 and "503" in row["error"]
    dead = (await running.api.get("/notifications/dead-letter")).json()
    assert dead["size"] == 1
    assert dead["items"][0]["reason"] == "server_error" and "503" in dead["items"][0]["error"]
    metrics = (await running.api.get("/metrics")).text
    assert "notifications_dead_letter_size 1.0" in metrics
    assert 'notifications_failed_total{reason="server_error"}' in metrics

    refused = await running.api.post("/notifications/dead-letter/replay")
    assert refused.status_code == 401
    replay = await running.api.post("/notifications/dead-letter/replay", headers=ADMIN, json={})
    assert replay.status_code == 200 and replay.json()["replayed"] == 1
    assert replay.json()["remaining"] == 0
    await eventually(lambda: len(slack.accepted) == 1)
    assert "Blocked" in slack.accepted[0]["text"]


async def test_a_replayed_message_that_fails_again_is_told_as_a_new_failure(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # Every outcome is told on the notifications stream with an id that follows from the
    # message and the outcome, so that the same outcome told twice (the worker killed between
    # telling and recording it) is one event to the history. A replayed message that fails
    # again is another failure: with the first one's id, the history would keep only the first.
    slack.answer(503, times=4)
    running = await start_notifier(delivery_attempts=2)
    await running.publish(record(status=RemediationStatus.BLOCKED, blocked_by="cooldown"))
    await running.wait_deliveries(status="dead_lettered")
    replay = await running.api.post("/notifications/dead-letter/replay", headers=ADMIN, json={})
    assert replay.json()["replayed"] == 1
    await eventually(lambda: len(slack.received) == 4, what="the replay's two attempts")
    await _told(running.redis, 2)  # both failures
    replay = await running.api.post("/notifications/dead-letter/replay", headers=ADMIN, json={})
    await eventually(lambda: len(slack.accepted) == 1)
    told = await _told(running.redis, 3)  # and the delivery
    assert [n.status for n in told] == ["failed", "failed", "delivered"]
    assert len({n.event_id for n in told}) == 3, "a later failure took an earlier one's id"
    assert len({n.message_id for n in told}) == 1


async def _told(client: Redis, count: int, timeout: float = 10.0) -> list[Notification]:
    """The notification events on the stream, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await client.xrange(NOTIFICATIONS)
        events = [decode_event(f[b"type"].decode(), f[b"data"]) for _entry, f in rows]
        told = [e for e in events if isinstance(e, Notification)]
        if len(told) >= count or time.monotonic() > deadline:
            return told
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "entry_id", ["3179828070764961148329-4", "1-18446744073709551616", "\u0661\u0662-0"]
)
async def test_a_replay_of_an_id_no_stream_can_hold_is_refused_naming_it(
    start_notifier: Start, entry_id: str
) -> None:
    """A part of an entry id past 64 bits (Redis refuses it) or in other digits than ASCII:
    422 naming the field, not a server error."""
    running = await start_notifier()
    reply = await running.api.post(
        "/notifications/dead-letter/replay", headers=ADMIN, json={"entry_ids": ["1-0", entry_id]}
    )
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"].startswith("entry_ids[1]: "), reply.json()


async def test_a_payload_the_receiver_refuses_is_not_retried(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    slack.answer(400)
    running = await start_notifier()
    await running.publish(record(status=RemediationStatus.SUCCEEDED))
    (row,) = await running.wait_deliveries(status="dead_lettered")
    assert row["attempts"] == 1 and "400" in row["error"]
    assert len(slack.received) == 1


async def test_messages_to_one_receiver_are_paced_by_its_rate_limit(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    running = await start_notifier(webhook_rate_per_s=5)
    events = [anomaly(resource_id=f"web-{i}") for i in range(4)]
    await running.publish(*(record(e, RemediationStatus.SUCCEEDED) for e in events))
    await eventually(lambda: len(slack.accepted) == 4)
    times = [r.at for r in slack.received]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Slots are 0.2 s apart on Redis' clock; each arrival adds its own HTTP time (the first
    # one's connection set-up most), which cannot add up over the whole run: unpaced, the four
    # would arrive within a few hundredths of a second.
    assert times[-1] - times[0] >= 0.55, gaps
    assert statistics.median(gaps) >= 0.18, gaps


async def test_a_delivered_message_leaves_its_queue(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    """A receiver's queue holds what waits for it: a delivered message is deleted with its
    acknowledgement. Kept, every message ever sent stayed in Redis (the queue had no cap),
    and ``notifications_queued`` counted them all: ScopsNotificationsBacklog (more than 100
    waiting for 15 minutes) fired for good once a hundred messages had been delivered."""
    running = await start_notifier()
    for n in range(3):
        await running.publish(record(anomaly(f"web-{n}"), status=RemediationStatus.SUCCEEDED))
    await running.wait_deliveries(3)
    await running.settled()
    assert await running.redis.xlen(redis_keys.queue("slack")) == 0
    await running.notifier.scheduler.update_gauges()
    metrics = (await running.api.get("/metrics")).text
    assert 'notifications_queued{receiver="slack"} 0.0' in metrics


async def test_messages_delivered_before_they_left_their_queue_are_deleted_at_start(
    start_notifier: Start, slack: SlackStandIn, async_redis: Redis
) -> None:
    """Entries delivered and acknowledged by a notifier that kept them (before a delivered
    message left its queue) are deleted when a notifier starts; a message still waiting is
    then delivered as ever."""
    queue = redis_keys.queue("slack")
    await async_redis.xgroup_create(queue, redis_keys.DELIVERY_GROUP, id="0", mkstream=True)
    for n in range(3):
        await async_redis.xadd(queue, {"data": f"delivered long ago {n}"})
    read = await async_redis.xreadgroup(redis_keys.DELIVERY_GROUP, "old", {queue: ">"})
    await async_redis.xack(queue, redis_keys.DELIVERY_GROUP, *(i for i, _ in read[0][1]))
    running = await start_notifier()
    assert await running.redis.xlen(queue) == 0
    await running.publish(record(status=RemediationStatus.SUCCEEDED))
    await running.wait_deliveries()
    assert len(slack.accepted) == 1

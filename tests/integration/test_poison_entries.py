"""A poison entry whose ``type`` field is not UTF-8 (bytes anyone with XADD can write) must be
dead-lettered and never stop the group: the valid events behind it are still handled."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from shared.bus import encode_event
from shared.events import utcnow
from shared.streams import ANOMALIES, dead_letter
from tests.integration.incident_history.running import counts, history_env, history_process
from tests.support.notifier_events import anomaly
from tests.support.processes import service, stack_env
from tests.support.slack_standin import SlackStandIn

POISON = {b"type": b"\xff\xfeanomaly", b"v": b"1.0", b"data": b"{}"}


def test_notifier_survives_a_type_field_that_is_not_utf8(
    redis_url: str, slack: SlackStandIn, log_dir: Path
) -> None:
    env = stack_env(redis_url, {"SCOPS_SLACK_WEBHOOK_URL": slack.url, "SCOPS_GROUP_WAIT_S": "0.2"})
    client = redis.Redis.from_url(redis_url)
    notifier = service("notifier", env, log_dir).start()
    try:
        notifier.wait_ready()
        client.xadd(ANOMALIES, POISON)
        client.xadd(ANOMALIES, encode_event(anomaly("web-1", "cpu_utilization", at=utcnow())))
        accepted = slack.wait_for(1, timeout=15)
        dead = client.xlen(dead_letter(ANOMALIES))
        alive = notifier.process is not None and notifier.process.poll() is None
        assert accepted and dead == 1, (
            f"slack got {len(accepted)} messages, dead letters {dead}, process alive {alive}\n"
            + notifier.log_tail(25)
        )
    finally:
        notifier.stop()
        client.close()


def test_history_survives_a_type_field_that_is_not_utf8(redis_url: str, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    history = history_process(history_env(redis_url, database_url), tmp_path).start()
    client = redis.Redis.from_url(redis_url)
    try:
        history.wait_ready()
        client.xadd(ANOMALIES, POISON)
        client.xadd(ANOMALIES, encode_event(anomaly("web-1", "cpu_utilization", at=utcnow())))
        deadline = time.monotonic() + 15
        while counts(database_url).incidents < 1 and time.monotonic() < deadline:
            time.sleep(0.3)
        found = counts(database_url).incidents
        dead = client.xlen(dead_letter(ANOMALIES))
        assert found == 1 and dead == 1, (
            f"incidents {found}, dead letters {dead}\n" + history.log_tail(25)
        )
    finally:
        history.stop()
        client.close()


def test_detector_survives_a_type_field_that_is_not_utf8(redis_url: str, log_dir: Path) -> None:
    from datetime import timedelta

    import httpx

    from shared.events import MetricBatch, MetricSample
    from shared.streams import metrics_stream

    env = stack_env(redis_url, {"SCOPS_METRIC_SHARDS": "1", "SCOPS_CHECKPOINT_INTERVAL_S": "0.5"})
    client = redis.Redis.from_url(redis_url)
    detector = service("detector", env, log_dir).start()
    try:
        detector.wait_ready()
        stream = metrics_stream(0)
        client.xadd(stream, {b"type": b"\xffmetrics", b"v": b"1.0", b"data": b"{}"})
        at = utcnow() - timedelta(hours=1)
        batch = MetricBatch(
            samples=[
                MetricSample(
                    resource_id="vm-1",
                    metric="cpu_utilization",
                    value=40.0,
                    timestamp=at + timedelta(minutes=i),
                )
                for i in range(10)
            ]
        )
        client.xadd(stream, encode_event(batch))
        deadline = time.monotonic() + 15
        scored = 0
        while time.monotonic() < deadline:
            scored = httpx.get(f"{detector.url}/anomaly/status").json()["samples_scored"]
            if scored >= 10:
                break
            time.sleep(0.3)
        dead = client.xlen(dead_letter(stream))
        assert scored == 10 and dead == 1, (
            f"samples scored {scored}, dead letters {dead}\n" + detector.log_tail(10)
        )
    finally:
        detector.stop()
        client.close()


def test_notifier_dead_letters_an_unreadable_queued_message(
    redis_url: str, slack: SlackStandIn, log_dir: Path
) -> None:
    """A queue entry no notifier can read (written by something else) is set aside on the
    queue's dead-letter stream with its reason, as an unreadable entry of any stream is: not
    dropped with a log line, not retried, not sent."""
    import httpx

    from services.notifier import redis_keys

    env = stack_env(redis_url, {"SCOPS_SLACK_WEBHOOK_URL": slack.url})
    client = redis.Redis.from_url(redis_url)
    notifier = service("notifier", env, log_dir).start()
    try:
        notifier.wait_ready()
        queue = redis_keys.queue("slack")
        client.xadd(queue, {b"data": b'{"message_id": "m1", "text": "half a message'})
        deadline = time.monotonic() + 10
        while (
            client.xpending(queue, redis_keys.DELIVERY_GROUP)["pending"]
            or client.xinfo_groups(queue)[0]["lag"]
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        (aside,) = [fields for _, fields in client.xrange(dead_letter(queue))]
        assert aside[b"data"] == b'{"message_id": "m1", "text": "half a message'
        assert aside[b"dead_reason"].startswith(b"unreadable")
        listed = httpx.get(f"{notifier.url}/notifications/dead-letter")
        assert listed.status_code == 200  # the deliveries' dead letters still read
        assert slack.accepted == []
    finally:
        notifier.stop()
        client.close()

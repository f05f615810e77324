"""The notifier SIGKILLed at chosen moments (a Redis proxy holds back the command of that
moment, then the process is killed): what Slack and the rest of the system get after a
restart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import redis

from services.notifier import redis_keys
from shared.bus import encode_event
from shared.events import RemediationStatus, utcnow
from shared.streams import ANOMALIES, GROUP_NOTIFIER, NOTIFICATIONS, REMEDIATIONS
from tests.support.freeze_proxy import FreezeProxy, command
from tests.support.notifier_events import anomaly, record
from tests.support.processes import service, stack_env
from tests.support.slack_standin import SlackStandIn


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


@pytest.fixture
def proxy(redis_url: str) -> Iterator[FreezeProxy]:
    p = FreezeProxy(urlparse(redis_url).port or 6379)
    yield p
    p.close()


def test_a_record_folded_then_killed_before_its_ack_is_told_once(
    redis_url: str, slack: SlackStandIn, log_dir: Path, proxy: FreezeProxy
) -> None:
    """docs/notifier.md: a decision that arrives while its anomaly's message waits is folded
    into that message, "so one spike is one message"; duplicates need a crash between Slack's
    answer and its recording. Here the notifier dies after folding a succeeded record into the
    waiting alert and before acknowledging the record's stream entry."""
    settings = {
        "SCOPS_SLACK_WEBHOOK_URL": slack.url,
        "SCOPS_GROUP_WAIT_S": "2",
        "SCOPS_CLAIM_IDLE_MS": "4000",  # production: group wait 10 s < claim idle 30 s
        "SCOPS_RETRY_BASE_S": "0.05",
    }
    client = redis.Redis.from_url(redis_url)
    first = service("notifier", stack_env(proxy.url, settings), log_dir).start()
    spike = anomaly("web-1", "cpu_utilization", at=utcnow())
    result = record(spike, RemediationStatus.SUCCEEDED)
    try:
        first.wait_ready()
        client.xadd(ANOMALIES, encode_event(spike))
        wait_until(
            lambda: len(httpx.get(f"{first.url}/notifications/groups").json()) == 1,
            what="the alert grouped",
        )
        proxy.arm(command(b"XACK", REMEDIATIONS))
        client.xadd(REMEDIATIONS, encode_event(result))
        assert proxy.tripped.wait(5), "the record's acknowledgement never came"
        first.kill()
    finally:
        first.kill()
    assert client.xpending(REMEDIATIONS, GROUP_NOTIFIER)["pending"] == 1
    assert slack.accepted == []  # nothing told yet: the group still waits

    second = service("notifier", stack_env(redis_url, settings), log_dir).start()
    try:
        second.wait_ready()
        slack.wait_for(1, timeout=15)
        wait_until(
            lambda: client.xpending(REMEDIATIONS, GROUP_NOTIFIER)["pending"] == 0,
            timeout=20,
            what="the record's entry taken over",
        )
        time.sleep(2)  # room for its message
    finally:
        second.stop()
        client.close()
    texts = [body.get("text", "") for body in slack.accepted]
    assert len(texts) == 1, "one spike, one message; Slack got:\n" + "\n".join(texts)


def test_a_delivery_recorded_then_killed_still_reaches_the_notifications_stream(
    redis_url: str, slack: SlackStandIn, log_dir: Path, proxy: FreezeProxy
) -> None:
    """docs/notifier.md: "Every delivery is also published as notification.sent.v1 on
    scops:{notifications}" and docs/history.md: the history holds "every notification sent",
    read from that stream only. The notifier dies after the transaction that records the
    delivery and acknowledges the queue entry, before that event is written."""
    settings = {"SCOPS_SLACK_WEBHOOK_URL": slack.url, "SCOPS_CLAIM_IDLE_MS": "1000"}
    client = redis.Redis.from_url(redis_url)
    first = service("notifier", stack_env(proxy.url, settings), log_dir).start()
    failed = record(anomaly("db-1", "disk_used", at=utcnow()), RemediationStatus.FAILED)
    try:
        first.wait_ready()
        proxy.arm(command(b"XADD", NOTIFICATIONS))
        client.xadd(REMEDIATIONS, encode_event(failed))
        assert proxy.tripped.wait(10), "no notification event was written"
        first.kill()
    finally:
        first.kill()
    assert len(slack.accepted) == 1  # Slack has it

    second = service("notifier", stack_env(redis_url, settings), log_dir).start()
    try:
        second.wait_ready()
        time.sleep(4)  # reclaims (claim idle 1 s), queue and intake settle
        queue = redis_keys.queue("slack")
        assert client.xpending(queue, redis_keys.DELIVERY_GROUP)["pending"] == 0
        told = [json.loads(fields[b"data"]) for _, fields in client.xrange(NOTIFICATIONS)]
    finally:
        second.stop()
        client.close()
    sources = [str(failed.event_id) in n["source_event_ids"] for n in told]
    assert any(sources), (
        f"Slack accepted {len(slack.accepted)} message(s) about record {failed.event_id}; "
        f"notification events on {NOTIFICATIONS}: {len(told)}"
    )


def test_an_approval_request_queued_then_killed_before_its_ack_is_told_once(
    redis_url: str, slack: SlackStandIn, log_dir: Path, proxy: FreezeProxy
) -> None:
    settings = {
        "SCOPS_SLACK_WEBHOOK_URL": slack.url,
        "SCOPS_GROUP_WAIT_S": "1",
        "SCOPS_CLAIM_IDLE_MS": "2000",
    }
    client = redis.Redis.from_url(redis_url)
    first = service("notifier", stack_env(proxy.url, settings), log_dir).start()
    spike = anomaly("web-2", "cpu_utilization", at=utcnow())
    ask = record(
        spike,
        RemediationStatus.PENDING_APPROVAL,
        approval_id="a" * 32,
        expires_at=utcnow().replace(microsecond=0) + timedelta(hours=1),
    )
    try:
        first.wait_ready()
        client.xadd(ANOMALIES, encode_event(spike))
        proxy.arm(command(b"XACK", REMEDIATIONS))
        client.xadd(REMEDIATIONS, encode_event(ask))
        assert proxy.tripped.wait(5)
        first.kill()
    finally:
        first.kill()
    second = service("notifier", stack_env(redis_url, settings), log_dir).start()
    try:
        second.wait_ready()
        wait_until(
            lambda: client.xpending(REMEDIATIONS, GROUP_NOTIFIER)["pending"] == 0,
            timeout=20,
            what="the record's entry taken over",
        )
        time.sleep(3)
    finally:
        second.stop()
        client.close()
    texts = [body.get("text", "") for body in slack.accepted]
    approvals = [t for t in texts if "Approval needed" in t]
    assert len(approvals) == 1, texts

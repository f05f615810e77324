"""A notifier SIGKILLed with work in hand loses none of it: a message read from its queue and
not yet accepted, and an alert group still waiting, are both delivered by the next process,
each once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from services.notifier import redis_keys
from shared.bus import encode_event
from shared.events import utcnow
from shared.streams import ANOMALIES
from tests.support.notifier_events import anomaly
from tests.support.processes import StackProcess, service, stack_env
from tests.support.slack_standin import SlackStandIn


def wait_until(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)


def groups(notifier: StackProcess) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = httpx.get(f"{notifier.url}/notifications/groups").json()
    return rows


def test_messages_in_hand_at_sigkill_are_delivered_after_restart(
    redis_url: str, slack: SlackStandIn, log_dir: Path
) -> None:
    env = stack_env(
        redis_url,
        {
            "SCOPS_SLACK_WEBHOOK_URL": slack.url,
            "SCOPS_GROUP_WAIT_S": "1.0",
            "SCOPS_CLAIM_IDLE_MS": "1000",
            "SCOPS_RETRY_BASE_S": "0.05",
        },
    )
    client = redis.Redis.from_url(redis_url)
    slack.answer(503, {"Retry-After": "60"})  # the first message is held, unsent
    first = service("notifier", env, log_dir).start()
    try:
        first.wait_ready()
        client.xadd(ANOMALIES, encode_event(anomaly("web-1", "cpu_utilization", at=utcnow())))
        wait_until(lambda: len(slack.received) == 1, what="the first try")
        pending = client.xpending(redis_keys.queue("slack"), redis_keys.DELIVERY_GROUP)["pending"]
        assert pending == 1  # read, not accepted
        client.xadd(ANOMALIES, encode_event(anomaly("web-2", "memory_utilization", at=utcnow())))
        wait_until(lambda: len(groups(first)) == 2, what="the second group")
        first.kill()
        assert [g["last_notified_at"] for g in groups_after_kill(client)].count(None) == 1
    finally:
        first.kill()

    second = service("notifier", env, log_dir).start()
    try:
        second.wait_ready()
        delivered = slack.wait_for(2, timeout=20)
        time.sleep(1.5)  # room for a duplicate
        assert len(slack.accepted) == 2
        texts = sorted(body["text"] for body in delivered)
        assert "cpu_utilization on web-1" in texts[0]
        assert "memory_utilization on web-2" in texts[1]
        assert client.xpending(redis_keys.queue("slack"), redis_keys.DELIVERY_GROUP)["pending"] == 0
        assert [r.status for r in slack.received] == [503, 200, 200]
    finally:
        second.stop()
        client.close()
    taken_over = [
        line for line in second.log_text().splitlines() if '"event": "entries_reclaimed"' in line
    ]
    assert any('"group": "delivery"' in line for line in taken_over)


def groups_after_kill(client: redis.Redis) -> list[dict[str, object]]:
    """The groups as Redis holds them, read without a notifier."""
    rows = []
    for gid in client.zrange(redis_keys.GROUPS_DUE, 0, -1):
        meta = client.hget(redis_keys.group(gid.decode()), "meta")
        assert meta is not None
        rows.append(json.loads(meta))
    return rows

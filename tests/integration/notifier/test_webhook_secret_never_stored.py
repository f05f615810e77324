"""A receiver that repeats the webhook's path and URL in its error answers: after the message is
dead-lettered, no piece of the webhook's secret is in the delivery history, the dead letters
(both readable with a viewer key), the notifications stream or the notifier's log file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from shared.bus import encode_event
from shared.events import RemediationStatus
from shared.streams import NOTIFICATIONS, REMEDIATIONS
from tests.support.notifier_events import record
from tests.support.processes import service, stack_env
from tests.support.slack_standin import SlackStandIn

SECRET = "Zq8sWv3Lk2PnR7tYb9Xc4Md1"


def wait_until(check: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.1)


def pieces_of(secret: str, size: int = 5) -> list[str]:
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def test_an_echoing_receiver_leaves_no_piece_of_the_webhook_anywhere(
    redis_url: str, slack: SlackStandIn, log_dir: Path
) -> None:
    webhook = slack.webhook(SECRET)
    path = webhook.split(str(slack.port), 1)[1]  # /services/T000/B000/<secret>
    slack.echo_request_in_errors()
    slack.answer(500)  # retried: logged once per try
    slack.answer(400)  # refused: dead-lettered with this answer as the last error
    env = stack_env(
        redis_url,
        {
            "SCOPS_SLACK_WEBHOOK_URL": webhook,
            "SCOPS_DELIVERY_ATTEMPTS": "2",
            "SCOPS_RETRY_BASE_S": "0.05",
            "SCOPS_LOG_LEVEL": "DEBUG",
        },
    )
    client = redis.Redis.from_url(redis_url)
    notifier = service("notifier", env, log_dir).start()
    try:
        notifier.wait_ready()
        failed = record(status=RemediationStatus.FAILED, exit_code=1, output_excerpt="boom")
        client.xadd(REMEDIATIONS, encode_event(failed))
        base = notifier.url
        wait_until(
            lambda: httpx.get(f"{base}/notifications/dead-letter").json()["size"] == 1,
            what="the dead letter",
        )
        history = httpx.get(f"{base}/notifications", params={"limit": 100}).text
        dead = httpx.get(f"{base}/notifications/dead-letter").text
        wait_until(lambda: client.xlen(NOTIFICATIONS) >= 1, what="the notification event")
        events = json.dumps([str(f) for _id, f in client.xrange(NOTIFICATIONS)])
    finally:
        notifier.stop()
        client.close()

    # The receiver really did echo the secret, and the answers really were recorded.
    assert [r.status for r in slack.received] == [500, 400]
    assert all(r.path == path for r in slack.received)
    assert "receiver answered 400" in history and "receiver answered 400" in dead
    logs = notifier.log_text()
    assert "delivery_try_failed" in logs and "notification_dead_lettered" in logs

    for name, text in {
        "history": history,
        "dead letters": dead,
        "events": events,
        "logs": logs,
    }.items():
        assert path not in text, name
        assert "services/T000/B000" not in text, name
        assert [p for p in pieces_of(SECRET) if p.lower() in text.lower()] == [], name

"""A verdict on an anomaly is applied once, however often it is sent: a Slack click applied again
(the gateway that took it over from one killed before acknowledging it), a client's retry after
a timeout, another person pressing the same button. The series is tuned once, the feedback log
holds one entry, and every later call answers as the first did, saying it was already given.

A detector killed between saving the tuned series and writing the log entry (tuned, not
logged, never answered: the caller sends it again) logs it on the retry, and tunes nothing more.

Real detector processes on a real Redis; the kill point is held by a proxy in front of Redis."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import redis

from services.detector.routes_anomaly import FEEDBACK_STREAM
from tests.integration.test_detector_service import (
    TOKEN,
    anomalies,
    detector_env,
    feed,
    normal,
    wait_scored,
)
from tests.support.freeze_proxy import FreezeProxy
from tests.support.processes import StackProcess, service

CLICK = {"verdict": "false_positive", "by": "ana (slack U0ANA)", "note": "from Slack"}


def raise_one(client: redis.Redis, process: StackProcess, series: str, seed: int) -> str:
    """A warmed-up series, then a spike: the id of the anomaly it raised."""
    feed(client, series, normal(300, seed=seed))
    wait_scored(process, 300)
    feed(client, series, [95.0], offset=300)
    deadline = time.monotonic() + 30
    while not (raised := [a for a in anomalies(client) if a["resource_id"] == series]):
        assert time.monotonic() < deadline, "the spike raised no anomaly"
        time.sleep(0.1)
    return str(raised[0]["event_id"])


def tell(process: StackProcess, anomaly_id: str, body: dict[str, str]) -> dict[str, Any]:
    reply = httpx.post(
        f"{process.url}/anomaly/{anomaly_id}/feedback",
        json=body,
        headers={"X-Internal-Token": TOKEN},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    answer: dict[str, Any] = reply.json()
    return answer


def logged(client: redis.Redis, anomaly_id: str) -> list[tuple[str, str]]:
    return [
        (f[b"verdict"].decode(), f[b"by"].decode())
        for _, f in client.xrange(FEEDBACK_STREAM)
        if f[b"anomaly_id"].decode() == anomaly_id
    ]


def test_the_same_verdict_sent_again_is_applied_once_and_answered_as_the_first(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path
) -> None:
    detector = service("detector", detector_env(redis_url), log_dir).start().wait_ready()
    try:
        anomaly_id = raise_one(sync_redis, detector, "vm-once", seed=78)
        first = tell(detector, anomaly_id, CLICK)
        again = tell(detector, anomaly_id, CLICK)  # the click applied again
        other = tell(detector, anomaly_id, {**CLICK, "by": "ben", "note": "me too"})
        true = tell(detector, anomaly_id, {"verdict": "true_positive", "by": "carl"})
        true_again = tell(detector, anomaly_id, {"verdict": "true_positive", "by": "carl"})
    finally:
        detector.stop()

    assert first["applied"] is True and first["already_given"] is False
    assert first["given_by"] == CLICK["by"]
    assert first["threshold_bias"] > 0
    for repeat in (again, other):
        assert repeat == {**first, "already_given": True}, repeat
    # Another verdict on the same anomaly is feedback of its own, applied once too.
    assert true["already_given"] is False and true["given_by"] == "carl"
    assert round(true["threshold_bias"], 6) == round(first["threshold_bias"] - 0.01, 6)
    assert true_again == {**true, "already_given": True}
    assert logged(sync_redis, anomaly_id) == [
        ("false_positive", CLICK["by"]),
        ("true_positive", "carl"),
    ]


def test_killed_after_tuning_before_logging_then_sent_again_tunes_once_and_logs_once(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path
) -> None:
    proxy = FreezeProxy(urlparse(redis_url).port or 6379)
    env = detector_env(proxy.url)
    first = service("detector", env, log_dir).start().wait_ready()
    try:
        anomaly_id = raise_one(sync_redis, first, "vm-once-killed", seed=79)
        time.sleep(1.5)  # checkpoints every 0.5 s cover the warm-up and the spike
        # The write of the log entry never lands; everything before it (the tuned series,
        # written before the answer) did.
        proxy.arm(rb"(?:XADD|EVAL|EVALSHA)\r\n.*" + re.escape(FEEDBACK_STREAM.encode()))
        with pytest.raises(httpx.TimeoutException):  # the caller gets no answer
            httpx.post(
                f"{first.url}/anomaly/{anomaly_id}/feedback",
                json=CLICK,
                headers={"X-Internal-Token": TOKEN},
                timeout=2,
            )
        assert proxy.tripped.wait(10), "the detector never wrote the feedback log"
        first.kill()
    finally:
        first.kill()
        proxy.close()
    assert logged(sync_redis, anomaly_id) == []  # tuned and saved, not logged

    second = service("detector", detector_env(redis_url), log_dir).start().wait_ready()
    try:
        retried = tell(second, anomaly_id, CLICK)  # the caller had no answer: it sends again
        again = tell(second, anomaly_id, CLICK)
    finally:
        second.stop()
    assert retried["applied"] is True
    assert round(retried["threshold_bias"], 6) == 0.03, retried  # one step, not two
    assert again == {**retried, "already_given": True}
    assert logged(sync_redis, anomaly_id) == [("false_positive", CLICK["by"])]

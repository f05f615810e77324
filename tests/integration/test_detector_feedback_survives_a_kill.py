"""Feedback on an anomaly is answered "applied" only once it is kept: the series is written to
Redis before the answer, not at the next checkpoint round (``SCOPS_CHECKPOINT_INTERVAL_S``, 15 s
by default), so a detector SIGKILLed right after answering comes back with the threshold bias
and the "known normal" band the team gave it, and the pattern they called a false positive does
not page again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis

from tests.integration.test_detector_service import (
    TOKEN,
    anomalies,
    detector_env,
    feed,
    normal,
    wait_scored,
)
from tests.support.processes import service

SERIES = "vm-feedback"


def test_feedback_answered_then_killed_before_the_checkpoint_is_kept(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path
) -> None:
    quick = detector_env(redis_url)  # checkpoints every 0.5 s: the warm-up and spike are saved
    first = service("detector", quick, log_dir).start().wait_ready()
    try:
        feed(sync_redis, SERIES, normal(300, seed=77))
        wait_scored(first, 300)
        feed(sync_redis, SERIES, [95.0], offset=300)
        deadline = time.monotonic() + 20
        while not (raised := [a for a in anomalies(sync_redis) if a["resource_id"] == SERIES]):
            assert time.monotonic() < deadline, "the spike raised no anomaly"
            time.sleep(0.1)
        time.sleep(2)  # checkpoints every 0.5 s cover the warm-up and the spike
    finally:
        first.stop()
    anomaly_id = raised[0]["event_id"]

    default = {**quick, "SCOPS_CHECKPOINT_INTERVAL_S": "15"}  # the product's default
    second = service("detector", default, log_dir).start().wait_ready()
    try:
        told = httpx.post(
            f"{second.url}/anomaly/{anomaly_id}/feedback",
            json={"verdict": "false_positive", "by": "ana"},
            headers={"X-Internal-Token": TOKEN},
            timeout=10,
        )
        assert told.status_code == 200, told.text
        assert told.json()["applied"] is True
        assert told.json()["threshold_bias"] > 0  # what ana was told
        second.kill()  # within the 15 s before the next checkpoint
    finally:
        second.kill()

    third = service("detector", default, log_dir).start().wait_ready()
    try:
        again = httpx.post(  # a true positive lowers the bias by 0.01: it shows what was kept
            f"{third.url}/anomaly/{anomaly_id}/feedback",
            json={"verdict": "true_positive", "by": "ben"},
            headers={"X-Internal-Token": TOKEN},
            timeout=10,
        )
    finally:
        third.stop()
    assert again.status_code == 200, again.text
    assert again.json()["applied"] is True  # the series itself was restored from Redis
    kept = again.json()["threshold_bias"]
    expected = round(told.json()["threshold_bias"] - 0.01, 6)
    assert round(kept, 6) == expected, (kept, expected)  # ana's verdict, then ben's

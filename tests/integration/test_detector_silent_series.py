"""A detector process closes the open anomaly of a series that went silent while others kept
sending, with a resolution saying no_data on the anomalies stream; a series still sending
keeps its anomaly open."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import redis

from shared.streams import ANOMALIES
from tests.integration.test_detector_service import detector_env, feed, normal, wait_scored
from tests.support.processes import service


def events(client: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(f[b"data"]) for _, f in client.xrange(ANOMALIES)]


def test_a_silent_series_anomaly_is_closed_as_no_data(redis_url: str, log_dir: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    env = {**detector_env(redis_url), "SCOPS_SILENT_AFTER_S": "1"}
    detector = service("detector", env, log_dir).start().wait_ready()
    try:
        feed(client, "gone-1", normal(300, seed=1))
        feed(client, "still-1", normal(300, seed=2))
        feed(client, "gone-1", [97.0, 96.0], offset=300)  # then nothing more: terminated
        feed(client, "still-1", [97.0, 96.0], offset=300)
        feed(client, "still-1", [95.0] * 30, offset=302)  # still anomalous, still sending
        wait_scored(detector, 634)
        deadline = time.monotonic() + 20
        while True:
            resolved = [e for e in events(client) if e["type"] == "anomaly.resolved.v1"]
            if resolved or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        published = events(client)
    finally:
        detector.stop()
        client.close()
    opened = {e["resource_id"]: e for e in published if e["type"] == "anomaly.detected.v1"}
    assert set(opened) == {"gone-1", "still-1"}
    assert [(e["resource_id"], e["reason"]) for e in resolved] == [("gone-1", "no_data")]
    assert resolved[0]["anomaly_id"] == opened["gone-1"]["event_id"]
    assert resolved[0]["last_value"] == 96.0

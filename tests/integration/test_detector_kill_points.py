"""The detector SIGKILLed while a checkpoint write is on its way (held back by a proxy, so
it never lands): the next process is warm, raises each spike once (one id), and resolves it.
Redis lost while an anomaly is being written: the anomaly is written once Redis is back, and
no checkpoint saves the spike as learned before it is. Redis lost while a large entry is scored
in parts (at the read between two parts): the rest of the entry is still scored, in order."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import redis

from shared.bus import encode_event
from shared.events import MetricBatch, MetricSample
from shared.streams import ANOMALIES, GROUP_DETECTOR, metrics_stream, shard_of
from tests.integration.test_detector_service import (
    SHARDS,
    START,
    detector_env,
    feed,
    normal,
    status,
    wait_scored,
)
from tests.support.freeze_proxy import FreezeProxy
from tests.support.processes import service


def events(client: redis.Redis) -> list[dict[str, object]]:
    return [json.loads(f[b"data"]) for _, f in client.xrange(ANOMALIES)]


def test_killed_while_a_checkpoint_write_is_on_its_way(redis_url: str, log_dir: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    proxy = FreezeProxy(urlparse(redis_url).port or 6379)
    env = {**detector_env(proxy.url), "SCOPS_CHECKPOINT_INTERVAL_S": "1"}
    names = [f"vm-{i}" for i in range(8)]
    first = service("detector", env, log_dir).start().wait_ready()
    try:
        for i, name in enumerate(names):
            feed(client, name, normal(300, seed=300 + i))
        wait_scored(first, 300 * len(names))
        time.sleep(2.5)  # a checkpoint covers the warm-up
        proxy.arm(rb"HSET\r\n\$\d+\r\nscops:\{detector-state:")
        for i, name in enumerate(names):  # a spike each, then it lasts two samples
            feed(client, name, [90.0 + i, 91.0 + i, 92.0 + i], offset=300)
        assert proxy.tripped.wait(10)
        first.kill()
    finally:
        first.kill()
        proxy.close()
    raised_before = {e["event_id"] for e in events(client) if e["type"] == "anomaly.detected.v1"}
    pending = sum(
        client.xpending(metrics_stream(s), GROUP_DETECTOR)["pending"] for s in range(SHARDS)
    )

    env = {**detector_env(redis_url), "SCOPS_CHECKPOINT_INTERVAL_S": "1"}
    second = service("detector", env, log_dir).start().wait_ready()
    try:
        deadline = time.monotonic() + 20
        while status(second)["samples_scored"] < 3 * len(names):
            assert time.monotonic() < deadline, status(second)
            time.sleep(0.1)
        assert status(second)["series_warming_up"] == 0
        for i, name in enumerate(names):  # back to normal: resolutions
            feed(client, name, normal(40, seed=900 + i), offset=303)
        deadline = time.monotonic() + 30
        while True:
            got = events(client)
            resolved = {e["resource_id"] for e in got if e["type"] == "anomaly.resolved.v1"}
            if resolved >= set(names) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        second.stop()
        client.close()
    detected = [e for e in got if e["type"] == "anomaly.detected.v1"]
    opened: dict[object, set[object]] = {}
    for e in detected:
        opened.setdefault(e["resource_id"], set()).add(e["episode_started_at"])
    assert pending > 0
    assert set(opened) == set(names), sorted(set(names) - set(opened))
    assert all(len(s) == 1 for s in opened.values()), opened  # one episode each
    assert resolved >= set(names), sorted(set(names) - resolved)
    assert raised_before <= {e["event_id"] for e in detected}


def test_redis_lost_while_an_anomaly_is_written(redis_url: str, log_dir: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    proxy = FreezeProxy(urlparse(redis_url).port or 6379)
    env = {**detector_env(proxy.url), "SCOPS_CHECKPOINT_INTERVAL_S": "0.5"}
    names = [f"lost-{i}" for i in range(4)]
    first = service("detector", env, log_dir).start().wait_ready()
    try:
        for i, name in enumerate(names):
            feed(client, name, normal(300, seed=700 + i))
        wait_scored(first, 300 * len(names))
        time.sleep(1.5)  # a checkpoint covers the warm-up
        # The connection writing the first spike's anomaly is lost with the write in it.
        proxy.arm(rb"XADD\r\n\$\d+\r\nscops:\{anomalies\}", cut=True)
        for i, name in enumerate(names):
            feed(client, name, [90.0 + i, 91.0 + i, 92.0 + i], offset=300)
        assert proxy.tripped.wait(10)
        wait_scored(first, 303 * len(names))
        time.sleep(2.5)  # checkpoints after Redis answers again
        first.kill()
    finally:
        first.kill()
        proxy.close()

    second = service("detector", detector_env(redis_url), log_dir).start().wait_ready()
    try:
        deadline = time.monotonic() + 20
        while True:
            raised = {
                e["resource_id"] for e in events(client) if e["type"] == "anomaly.detected.v1"
            }
            if raised >= set(names) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        second.stop()
        client.close()
    assert raised >= set(names), sorted(set(names) - raised)


# The read the detector makes between two parts of a large entry (no BLOCK: it does not wait).
READ_WITHOUT_WAITING = (
    rb"XREADGROUP\r\n(?:\$\d+\r\n[^\r]*\r\n){3}\$5\r\nCOUNT\r\n\$\d+\r\n\d+\r\n\$7\r\nSTREAMS"
)


def test_redis_lost_between_the_parts_of_a_large_entry(redis_url: str, log_dir: Path) -> None:
    client = redis.Redis.from_url(redis_url)
    proxy = FreezeProxy(urlparse(redis_url).port or 6379)
    env = {**detector_env(proxy.url), "SCOPS_CLAIM_IDLE_MS": "2000"}
    name = "parts-0"
    detector = service("detector", env, log_dir).start().wait_ready()
    try:
        feed(client, name, normal(300, seed=800))
        wait_scored(detector, 300)
        time.sleep(1.5)  # idle: the next entry comes to a blocking read
        values = normal(600, seed=801)
        values[550] = 95.0  # in the last part of six
        samples = [
            MetricSample(
                resource_id=name,
                metric="cpu_utilization",
                value=v,
                timestamp=START + timedelta(minutes=300 + i),
            )
            for i, v in enumerate(values)
        ]
        proxy.arm(READ_WITHOUT_WAITING, cut=True)
        client.xadd(
            metrics_stream(shard_of(name, SHARDS)), encode_event(MetricBatch(samples=samples))
        )
        assert proxy.tripped.wait(10)
        time.sleep(1.5)
        feed(client, name, normal(20, seed=802), offset=900)  # newer samples of the series
        deadline = time.monotonic() + 15
        while True:
            spikes = [
                e
                for e in events(client)
                if e["type"] == "anomaly.detected.v1" and e["resource_id"] == name
            ]
            if spikes or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        detector.stop()
        proxy.close()
        client.close()
    assert [e["value"] for e in spikes] == [95.0]

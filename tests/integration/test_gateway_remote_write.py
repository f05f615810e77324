"""``POST /api/v1/write`` on a real gateway: what Prometheus is told, and what reaches the
stream. (A real Prometheus sending to it: test_prometheus_remote_write.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from shared.streams import GROUP_DETECTOR, all_metric_streams, metrics_stream
from tests.support.metric_stream import stream_samples
from tests.support.processes import StackProcess, api_key, service, stack_env
from tests.support.remote_write import HEADERS, snappy, write_request

SHARDS = 2


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one gateway serves the module; each test reads what it added
    to the streams (the backlog test empties them before and after)."""
    return module_redis


@pytest.fixture(scope="module")
def gateway(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    # The smallest stream cap, so a backlog over 80 % of it is quick to build.
    env = stack_env(
        module_redis, {"SCOPS_METRIC_SHARDS": str(SHARDS), "SCOPS_STREAM_MAXLEN": "1000"}
    )
    logs = tmp_path_factory.mktemp("gateway-remote-write-logs")
    process = service("gateway", env, logs).start().wait_ready()
    yield process
    process.stop()


def post(gateway: StackProcess, body: bytes, key: str | None, **headers: str) -> httpx.Response:
    sent = {**HEADERS, **headers}
    if key:
        sent["Authorization"] = f"Bearer {key}"
    return httpx.post(f"{gateway.url}/api/v1/write", content=body, headers=sent, timeout=10)


def now_ms() -> int:
    return int(time.time() * 1000)


def lengths(client: redis.Redis) -> dict[str, int]:
    return {stream: client.xlen(stream) for stream in all_metric_streams(SHARDS)}


def streamed(client: redis.Redis, since: dict[str, int]) -> list[dict[str, object]]:
    """The samples added to the metric streams after their ``since`` lengths."""
    return [
        sample
        for stream in all_metric_streams(SHARDS)
        for _, fields in client.xrange(stream)[since[stream] :]
        for sample in stream_samples(fields)
    ]


def test_samples_are_on_the_stream_when_prometheus_hears_204(
    gateway: StackProcess, sync_redis: redis.Redis, redis_url: str
) -> None:
    key = api_key(redis_url, "ingest")
    before = lengths(sync_redis)
    t = now_ms()
    counter = {"__name__": "http_requests_total", "instance": "web-1:9100", "job": "api"}
    gauge = {"__name__": "node_load1", "instance": "web-1:9100", "job": "node"}
    first = post(
        gateway, snappy(write_request([(counter, [(t, 100.0)]), (gauge, [(t, 0.5)])])), key
    )
    assert first.status_code == 204, first.text
    second = post(gateway, snappy(write_request([(counter, [(t + 2000, 110.0)])])), key)
    assert second.status_code == 204, second.text
    got = sorted((s["metric"], s["value"], s["resource_id"]) for s in streamed(sync_redis, before))
    assert got == [
        ("http_requests_total:rate", 5.0, "web-1:9100"),
        ("node_load1", 0.5, "web-1:9100"),
    ]


def test_no_key_is_401_and_a_viewer_key_403_nothing_written(
    gateway: StackProcess, sync_redis: redis.Redis, redis_url: str
) -> None:
    before = lengths(sync_redis)
    body = snappy(write_request([({"__name__": "up", "job": "a"}, [(now_ms(), 1.0)])]))
    assert post(gateway, body, None).status_code == 401
    assert post(gateway, body, api_key(redis_url, "viewer")).status_code == 403
    assert streamed(sync_redis, before) == []


def test_a_malformed_body_is_400_naming_the_reason(gateway: StackProcess, redis_url: str) -> None:
    key = api_key(redis_url, "ingest")
    reply = post(gateway, b"this is not snappy", key)
    assert reply.status_code == 400
    assert "not a snappy block" in reply.json()["detail"]
    reply = post(gateway, snappy(b"\x0a\xff\xff\xff\x0f"), key)
    assert reply.status_code == 400
    assert "not a protobuf WriteRequest" in reply.json()["detail"]
    reply = post(gateway, snappy(write_request([])), key, **{"Content-Encoding": "gzip"})
    assert reply.status_code == 415
    assert "snappy" in reply.json()["detail"]


def test_a_detector_too_far_behind_makes_prometheus_send_again_later(
    gateway: StackProcess, sync_redis: redis.Redis, redis_url: str
) -> None:
    key = api_key(redis_url, "ingest")
    sync_redis.delete(*all_metric_streams(SHARDS))  # the backlog is built from empty streams
    try:
        for shard in range(SHARDS):
            stream = metrics_stream(shard)
            sync_redis.xgroup_create(stream, GROUP_DETECTOR, id="0", mkstream=True)
            pipe = sync_redis.pipeline(transaction=False)
            for _ in range(900):  # unread, over 80 % of the cap of 1000
                pipe.xadd(stream, {"type": "filler"})
            pipe.execute()
        body = snappy(write_request([({"__name__": "up", "job": "a"}, [(now_ms(), 1.0)])]))
        reply = post(gateway, body, key)
        assert reply.status_code == 503, reply.text
        assert reply.headers["Retry-After"] == "5"
        assert "the detector is behind" in reply.json()["detail"]
        assert sum(sync_redis.xlen(metrics_stream(s)) for s in range(SHARDS)) == 900 * SHARDS
    finally:
        sync_redis.delete(*all_metric_streams(SHARDS))  # the module's gateway takes writes again

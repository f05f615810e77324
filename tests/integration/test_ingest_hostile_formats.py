"""Hostile bodies in the two binary/structured ingest formats a schema fuzzer cannot reach:
Prometheus remote write (snappy + protobuf, ``POST /api/v1/write``) and Alertmanager's webhook
(``POST /v1/alerts/alertmanager``). Each test runs a real gateway on loopback with a real Redis
and asserts what a user would notice: the answer, what reached the streams, the gateway's
memory (``/proc/<pid>/status``) and whether it kept answering."""

from __future__ import annotations

import json
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.streams import ANOMALIES, all_metric_streams
from tests.support.metric_stream import stream_samples
from tests.support.processes import StackProcess, api_key, service, stack_env
from tests.support.remote_write import HEADERS, snappy, write_request
from tests.support.waiting import wait_for

SHARDS = 1
MB = 1024 * 1024


@pytest.fixture
def redis_url(module_redis: str) -> str:
    return module_redis


@pytest.fixture(scope="module")
def gateway(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    env = stack_env(module_redis, {"SCOPS_METRIC_SHARDS": str(SHARDS)})
    logs = tmp_path_factory.mktemp("hostile-formats-logs")
    process = service("gateway", env, logs).start().wait_ready()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def ingest_key(gateway: StackProcess, module_redis: str) -> str:
    return api_key(module_redis, "ingest", "hostile-formats")


@pytest.fixture
def fresh_gateway(module_redis: str, tmp_path: Any) -> Iterator[StackProcess]:
    """A gateway of its own, for a test that measures its memory from the start."""
    env = stack_env(module_redis, {"SCOPS_METRIC_SHARDS": str(SHARDS)})
    process = service("gateway", env, tmp_path).start().wait_ready()
    yield process
    process.stop()


def written(client: redis.Redis) -> int:
    return sum(client.xlen(s) for s in [*all_metric_streams(SHARDS), ANOMALIES])


def status_kb(gateway: StackProcess, field: str) -> int:
    """VmRSS / VmHWM of the gateway process, in kB."""
    assert gateway.process is not None
    with open(f"/proc/{gateway.process.pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def post_write(
    gateway: StackProcess, key: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/api/v1/write",
        content=body,
        headers={**HEADERS, "Authorization": f"Bearer {key}", **(headers or {})},
        timeout=120,
    )


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def now_ms() -> int:
    return int(time.time() * 1000)


# -- 1. remote write: a small body that decodes to millions of (empty) samples ----------------


def test_a_small_write_of_millions_of_empty_samples_neither_balloons_nor_stalls_the_gateway(
    fresh_gateway: StackProcess, ingest_key: str
) -> None:
    gateway = fresh_gateway
    # One series, then 8 million empty Sample messages (2 bytes each: tag 0x12, length 0):
    # 16 MB once uncompressed (a quarter of the 64 MB accepted), 0.75 MB on the wire (the
    # body limit is 10 MB). Every sample is dated 1970 and so dropped, but only after the
    # gateway has built a Python tuple for each.
    series = field(1, field(1, b"instance") + field(2, b"bomb-1")) + b"\x12\x00" * 8_000_000
    body = snappy(field(1, series))
    assert len(body) < MB
    peak_before = status_kb(gateway, "VmHWM")
    answer: dict[str, Any] = {}

    def send() -> None:
        started = time.monotonic()
        answer["reply"] = post_write(gateway, ingest_key, body)
        answer["seconds"] = time.monotonic() - started

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.5)  # the write is being decoded
    probe_started = time.monotonic()
    health = httpx.get(f"{gateway.url}/health", timeout=60)
    probe_s = time.monotonic() - probe_started
    sender.join(120)
    grown_mb = (status_kb(gateway, "VmHWM") - peak_before) / 1024
    reply = answer["reply"]
    seen = (
        f"{reply.status_code} after {answer['seconds']:.1f} s; peak RSS +{grown_mb:.0f} MB for "
        f"a {len(body)} byte body; /health answered {health.status_code} in {probe_s:.1f} s"
    )
    # Refused before anything is built: counted on the wire, it holds more series, labels
    # and samples than one request may. It must not cost the gateway hundreds of MB, and the
    # liveness probe sent meanwhile is answered.
    assert reply.status_code == 413, seen
    assert reply.headers["content-type"] == "application/problem+json"
    assert "more than 500000 series, labels and samples" in reply.json()["detail"], seen
    assert health.status_code == 200 and grown_mb < 256, seen


# -- 2. remote write: series kept in memory for good, whatever became of them -----------------


def test_series_the_gateway_drops_are_not_kept_in_memory_between_requests(
    fresh_gateway: StackProcess, ingest_key: str, sync_redis: redis.Redis
) -> None:
    gateway = fresh_gateway
    # Series with no resource label (dropped: no_resource_label), each with a different 1 MB
    # label value: 8 per request, 24 requests (every one answered 204, nothing written).
    before = written(sync_redis)
    rss_before = status_kb(gateway, "VmRSS")
    for request in range(24):
        series = [
            ({"__name__": "junk", "blob": f"{request}-{i}-" + "x" * MB}, [(now_ms(), 1.0)])
            for i in range(8)
        ]
        reply = post_write(gateway, ingest_key, snappy(write_request(series)))
        assert reply.status_code == 204, reply.text
    grown_mb = (status_kb(gateway, "VmRSS") - rss_before) / 1024
    print(f"RSS grew by {grown_mb:.0f} MB")
    assert written(sync_redis) == before
    # 192 MB of label values the gateway dropped must not stay in its memory.
    assert grown_mb < 64, f"RSS grew by {grown_mb:.0f} MB and stays so"


def test_metadata_family_names_are_not_kept_in_memory_without_bound(
    fresh_gateway: StackProcess, ingest_key: str
) -> None:
    gateway = fresh_gateway
    # Metadata-only requests (as Prometheus sends every minute), each naming 8 families of
    # 1 MB names: the gateway remembers up to 50 000 family names of any length.
    rss_before = status_kb(gateway, "VmRSS")
    for request in range(24):
        families = {f"m{request}_{i}_" + "x" * MB: 2 for i in range(8)}
        reply = post_write(gateway, ingest_key, snappy(write_request([], families)))  # type: ignore[arg-type]
        assert reply.status_code == 204, reply.text
    grown_mb = (status_kb(gateway, "VmRSS") - rss_before) / 1024
    print(f"RSS grew by {grown_mb:.0f} MB")
    assert grown_mb < 64, f"RSS grew by {grown_mb:.0f} MB and stays so"


# -- 3. remote write 2.0, or a body of nothing the gateway reads: 204 and nothing written ------


def _v2_request() -> bytes:
    """io.prometheus.write.v2.Request: symbols (4) and timeseries (5) with label refs and a
    sample (value 1, timestamp 2)."""
    symbols = ["", "__name__", "node_load1", "instance", "rw2-web-1"]
    refs = b"".join(varint(i) for i in (1, 2, 3, 4))
    sample = b"\x09" + struct.pack("<d", 0.5) + b"\x10" + varint(now_ms())
    series = field(1, refs) + field(2, sample)
    return b"".join(field(4, s.encode()) for s in symbols) + field(5, series)


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        (
            _v2_request(),
            {"X-Prometheus-Remote-Write-Version": "2.0.0"},
        ),
        (field(5, b"abc") + field(9, b"samples of some other message"), {}),
    ],
    ids=["remote-write-2.0-without-proto-param", "only-unknown-fields"],
)
def test_a_write_the_gateway_cannot_read_is_refused_not_answered_204(
    gateway: StackProcess,
    ingest_key: str,
    sync_redis: redis.Redis,
    raw: bytes,
    headers: dict[str, str],
) -> None:
    before = written(sync_redis)
    reply = post_write(gateway, ingest_key, snappy(raw), headers)
    # 204 tells Prometheus the samples are stored: it drops them from its WAL for good.
    if reply.status_code == 204:
        assert written(sync_redis) > before, "204, and nothing was written"
    else:
        assert 400 <= reply.status_code < 500, reply.text
        assert reply.headers["content-type"] == "application/problem+json"


# -- 4. Alertmanager: a resource label rewritten into another resource's id -------------------


def am_alert(**overrides: Any) -> dict[str, Any]:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    return {
        "status": "firing",
        "labels": {"alertname": "HighCPU", "instance": "am-good"},
        "annotations": {},
        "startsAt": started.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "am-good",
        **overrides,
    }


@pytest.mark.parametrize(
    "instance",
    [
        "db-" + "a" * 253 + "-other-team",  # cut to 256 characters: "db-aaa…a"
        "prod db",  # a space becomes "_": "prod_db", another host's name
    ],
    ids=["longer-than-256", "with-a-space"],
)
def test_an_alert_naming_an_invalid_resource_is_skipped_not_rewritten_into_another(
    gateway: StackProcess, ingest_key: str, sync_redis: redis.Redis, instance: str
) -> None:
    before = sync_redis.xlen(ANOMALIES)
    labels = {"alertname": "HighCPU", "instance": instance}
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        json={
            "version": "4",
            "status": "firing",
            "alerts": [am_alert(), am_alert(labels=labels, fingerprint=f"am-{len(instance)}")],
        },
        headers={"X-API-Key": ingest_key},
    )
    assert reply.status_code == 202, reply.text
    events = [json.loads(fields[b"data"]) for _, fields in sync_redis.xrange(ANOMALIES)[before:]]
    # The remediator acts on the event's resource_id (by Name tag when it is not an instance
    # id): it must be the resource the alert named, or the alert skipped with its reason; never
    # another name.
    assert len(events) + len(reply.json()["skipped"]) == 2, reply.json()
    named = {"am-good", instance}
    assert all(e["resource_id"] in named for e in events), [e["resource_id"] for e in events]


def test_alerts_about_two_resources_are_two_anomalies_whatever_their_fingerprint(
    gateway: StackProcess, ingest_key: str, module_redis: str
) -> None:
    # The fingerprint is the sender's word: a second alert (another team's resource, or a
    # sender's bug) reusing one takes over the first's anomaly id, the id that makes an
    # anomaly act at most once, and that a resolved alert resolves.
    started = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
    victim = am_alert(
        labels={"alertname": "DiskFull", "instance": "fp-victim-db"},
        startsAt=started,
        fingerprint="0123456789abcdef",
    )
    other = am_alert(
        labels={"alertname": "DiskFull", "instance": "fp-other-web"},
        startsAt=started,
        fingerprint="0123456789abcdef",
    )
    headers = {"X-API-Key": ingest_key}
    url = f"{gateway.url}/v1/alerts/alertmanager"
    first = httpx.post(
        url, json={"version": "4", "status": "firing", "alerts": [victim]}, headers=headers
    )
    second = httpx.post(
        url, json={"version": "4", "status": "firing", "alerts": [other]}, headers=headers
    )
    assert (first.status_code, second.status_code) == (202, 202), (first.text, second.text)
    assert first.json()["anomaly_ids"] != second.json()["anomaly_ids"], (
        "two resources' alerts became one anomaly",
        first.json()["anomaly_ids"],
    )


def test_a_resolved_alert_ending_before_it_started_is_skipped_with_its_reason(
    gateway: StackProcess, ingest_key: str, sync_redis: redis.Redis
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    backwards = am_alert(
        status="resolved",
        labels={"alertname": "HighCPU", "instance": "am-backwards"},
        startsAt=(now - timedelta(minutes=1)).isoformat(),
        endsAt=(now - timedelta(hours=2)).isoformat(),
        fingerprint="am-backwards",
    )
    before = sync_redis.xlen(ANOMALIES)
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        json={"version": "4", "status": "resolved", "alerts": [am_alert(), backwards]},
        headers={"X-API-Key": ingest_key},
    )
    assert reply.status_code == 202, reply.text
    events = [json.loads(fields[b"data"]) for _, fields in sync_redis.xrange(ANOMALIES)[before:]]
    resolved = [e for e in events if e["resource_id"] == "am-backwards"]
    # An episode cannot end two hours before it began: the alert is skipped, naming endsAt.
    assert resolved == [], resolved
    assert [s["index"] for s in reply.json()["skipped"]] == [1], reply.json()
    assert "endsAt" in reply.json()["skipped"][0]["reason"]


# -- 5. remote write: a series naming one label twice --------------------------------------


def test_a_series_naming_a_label_twice_is_dropped_not_written_under_one_of_them(
    gateway: StackProcess, ingest_key: str, sync_redis: redis.Redis
) -> None:
    # Prometheus never sends it; its own receiver drops such a series as invalid labels. The
    # gateway keeps the last value: the sample is written as resource "dup-b", a resource the
    # series does not name alone.
    sample = b"\x09" + struct.pack("<d", 1.0) + b"\x10" + varint(now_ms())

    def label(name: bytes, value: bytes) -> bytes:
        return field(1, field(1, name) + field(2, value))

    series = (
        label(b"__name__", b"node_load1")
        + label(b"instance", b"dup-a")
        + label(b"instance", b"dup-b")
        + field(2, sample)
    )
    streams = all_metric_streams(SHARDS)
    before = {s: sync_redis.xlen(s) for s in streams}
    reply = post_write(gateway, ingest_key, snappy(field(1, series)))
    assert reply.status_code in (204, 400), reply.text
    added = [
        sample
        for s in streams
        for _, fields in sync_redis.xrange(s)[before[s] :]
        for sample in stream_samples(fields)
    ]
    assert [a["resource_id"] for a in added] == [], added


def indexed(client: redis.Redis) -> bool:
    """Whether the gateway's anomaly indexer has handled every entry of the anomalies stream."""
    groups = client.xinfo_groups(ANOMALIES)
    mine = [g for g in groups if g["name"] in (b"gateway", "gateway")]
    return bool(mine) and mine[0]["lag"] == 0 and mine[0]["pending"] == 0


def test_a_resolved_alert_about_another_resource_leaves_an_anomaly_open(
    gateway: StackProcess, ingest_key: str, module_redis: str, sync_redis: redis.Redis
) -> None:
    viewer = {"X-API-Key": api_key(module_redis, "viewer", "hostile-formats-viewer")}
    started = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
    url = f"{gateway.url}/v1/alerts/alertmanager"
    headers = {"X-API-Key": ingest_key}
    victim = am_alert(
        labels={"alertname": "DiskFull", "instance": "fpr-victim-db"},
        startsAt=started,
        fingerprint="feedfacefeedface",
    )
    fired = httpx.post(
        url, json={"version": "4", "status": "firing", "alerts": [victim]}, headers=headers
    )
    [anomaly_id] = fired.json()["anomaly_ids"]
    wait_for(
        gateway,
        lambda: (
            httpx.get(f"{gateway.url}/anomalies/{anomaly_id}", headers=viewer).status_code == 200
        ),
        10,
        "the anomaly indexed",
    )
    # Another resource, another alert name; only the (sender-chosen) fingerprint and the
    # start time are the victim's.
    other = am_alert(
        status="resolved",
        labels={"alertname": "Whatever", "instance": "fpr-other-web"},
        startsAt=started,
        endsAt=datetime.now(UTC).isoformat(),
        fingerprint="feedfacefeedface",
    )
    resolved = httpx.post(
        url, json={"version": "4", "status": "resolved", "alerts": [other]}, headers=headers
    )
    assert resolved.status_code == 202, resolved.text
    wait_for(gateway, lambda: indexed(sync_redis), 10, "the gateway's indexer caught up")
    item = httpx.get(f"{gateway.url}/anomalies/{anomaly_id}", headers=viewer).json()
    assert item["resource_id"] == "fpr-victim-db"
    assert "resolved_at" not in item, item

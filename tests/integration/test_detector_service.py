"""The detector service on a real Redis: state survives a restart, synchronous scoring does not
disturb the live state, feedback is authenticated and applied."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from services.detector.checkpoint import state_key
from services.detector.consumer import anomaly_key
from shared.bus import encode_event
from shared.events import MetricBatch, MetricSample
from shared.streams import ANOMALIES, GROUP_DETECTOR, metrics_stream, shard_of
from tests.support.processes import StackProcess, service, stack_env

SHARDS = 4
# Scoring requests are refused when timed more than 7 days before the detector's clock, and
# samples more than 5 minutes after it are dropped: a day ago leaves room for 300 minutes.
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
TOKEN = "test-internal-token"


def detector_env(redis_url: str) -> dict[str, str]:
    return stack_env(
        redis_url,
        {
            "SCOPS_METRIC_SHARDS": str(SHARDS),
            "SCOPS_CHECKPOINT_INTERVAL_S": "0.5",
            "SCOPS_INTERNAL_TOKEN": TOKEN,
        },
    )


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one detector serves the module's tests that need no restart;
    each sends its own series and reads what it added."""
    return module_redis


@pytest.fixture(scope="module")
def detector(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    log_dir = tmp_path_factory.mktemp("detector-logs")
    process = service("detector", detector_env(module_redis), log_dir).start().wait_ready()
    yield process
    process.stop()


@pytest.fixture
def own_url(module_redis: str) -> str:
    """A database of the suite's Redis apart from the shared detector's, emptied for a test that
    starts and restarts detectors of its own (the shared one would read their streams)."""
    url = module_redis.rsplit("/", 1)[0] + "/1"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def own_redis(own_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(own_url)
    yield client
    client.close()


@pytest.fixture
def env(own_url: str) -> dict[str, str]:
    return detector_env(own_url)


def feed(
    client: redis.Redis,
    resource: str,
    values: list[float],
    offset: int = 0,
    metric: str = "cpu_utilization",
) -> None:
    samples = [
        MetricSample(
            resource_id=resource,
            metric=metric,
            value=v,
            timestamp=START + timedelta(minutes=offset + i),
        )
        for i, v in enumerate(values)
    ]
    stream = metrics_stream(shard_of(resource, SHARDS))
    for i in range(0, len(samples), 100):
        client.xadd(stream, encode_event(MetricBatch(samples=samples[i : i + 100])))


def status(process: StackProcess) -> dict[str, Any]:
    reply = httpx.get(f"{process.url}/anomaly/status")
    assert reply.status_code == 200
    body: dict[str, Any] = reply.json()
    return body


def wait_scored(process: StackProcess, count: int) -> None:
    deadline = time.monotonic() + 20
    while status(process)["samples_scored"] < count:
        assert time.monotonic() < deadline, status(process)
        time.sleep(0.05)


def normal(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(40, 2) for _ in range(n)]


def anomalies(client: redis.Redis, since: int = 0) -> list[dict[str, Any]]:
    """The anomalies on the stream after its first ``since`` entries."""
    events = [json.loads(f[b"data"]) for _, f in client.xrange(ANOMALIES)[since:]]
    return [e for e in events if e["type"] == "anomaly.detected.v1"]


def warm_up(client: redis.Redis, process: StackProcess, names: list[str], seed: int) -> None:
    """300 samples of each series, scored: every series past its warm-up."""
    for i, name in enumerate(names):
        feed(client, name, normal(300, seed=seed + i))
    wait_scored(process, 300 * len(names))


def wait_raised(client: redis.Redis, spikes: dict[str, float], timeout: float) -> None:
    """Until an anomaly was raised for each resource's spike value; a timeout names those
    missing."""
    deadline = time.monotonic() + timeout
    while True:
        raised = {(a["resource_id"], a["value"]) for a in anomalies(client)}
        if raised >= set(spikes.items()):
            return
        assert time.monotonic() < deadline, sorted(set(spikes.items()) - raised)
        time.sleep(0.1)


def test_state_survives_a_restart(
    env: dict[str, str], log_dir: Path, own_redis: redis.Redis
) -> None:
    first = service("detector", env, log_dir).start().wait_ready()
    feed(own_redis, "web-1", normal(300, seed=1))
    wait_scored(first, 300)
    assert status(first)["series_warming_up"] == 0
    first.stop()  # SIGTERM: saves state on the way out

    second = service("detector", env, log_dir).start().wait_ready()
    try:
        after = status(second)
        assert after["series_tracked"] == 1
        assert after["series_warming_up"] == 0  # no second warm-up
        feed(own_redis, "web-1", [97.0], offset=300)
        deadline = time.monotonic() + 10
        while not anomalies(own_redis):
            assert time.monotonic() < deadline, "the restored series raised nothing"
            time.sleep(0.05)
        assert anomalies(own_redis)[0]["severity"] == "critical"
    finally:
        second.stop()


def test_an_entry_a_killed_detector_held_is_scored_before_newer_samples(
    env: dict[str, str], log_dir: Path, own_redis: redis.Redis
) -> None:
    """A detector killed after reading an entry leaves it pending under its own name. The next
    detector of those shards takes it over before reading anything new: read after newer
    samples of its series, its samples would be skipped as old and its spike never raised."""
    # As deployed: an entry idle less than this in another consumer's hands is not reclaimed.
    env = {**env, "SCOPS_CLAIM_IDLE_MS": "30000"}
    first = service("detector", env, log_dir).start().wait_ready()
    feed(own_redis, "web-7", normal(300, seed=3))
    wait_scored(first, 300)
    first.stop()
    stream = metrics_stream(shard_of("web-7", SHARDS))
    feed(own_redis, "web-7", [97.0], offset=300)
    # What a detector killed right after its read leaves behind.
    own_redis.xreadgroup(GROUP_DETECTOR, "detector-gone-1", {stream: ">"}, count=10)
    assert own_redis.xpending(stream, GROUP_DETECTOR)["pending"] == 1

    second = service("detector", env, log_dir).start().wait_ready()
    try:
        feed(own_redis, "web-7", normal(10, seed=4), offset=301)
        deadline = time.monotonic() + 10
        while not anomalies(own_redis):
            assert time.monotonic() < deadline, "the spike left pending was never raised"
            time.sleep(0.05)
        raised = anomalies(own_redis)
        assert [(a["resource_id"], a["value"]) for a in raised] == [("web-7", 97.0)]
        deadline = time.monotonic() + 10
        while own_redis.xpending(stream, GROUP_DETECTOR)["pending"]:
            assert time.monotonic() < deadline, "the entry taken over was never acknowledged"
            time.sleep(0.05)
    finally:
        second.stop()


def test_a_detector_killed_while_scoring_a_backlog_loses_no_incident(
    env: dict[str, str], log_dir: Path, own_redis: redis.Redis
) -> None:
    """kill -9 in the middle of a backlog, then a new process: every series' spike is raised."""
    env = {**env, "SCOPS_CLAIM_IDLE_MS": "30000"}
    names = [f"node-{i}" for i in range(60)]
    first = service("detector", env, log_dir).start().wait_ready()
    try:
        warm_up(own_redis, first, names, seed=100)
        # 400 more samples a series, a spike somewhere in each, in entries of 100 samples
        # interleaved across series as they would arrive
        spikes = {name: 80.0 + i for i, name in enumerate(names)}
        where = {name: 30 + (i * 7) % 360 for i, name in enumerate(names)}
        for block in range(4):
            for i, name in enumerate(names):
                values = normal(100, seed=1000 * block + i)
                if block * 100 <= where[name] < (block + 1) * 100:
                    values[where[name] - block * 100] = spikes[name]
                feed(own_redis, name, values, offset=300 + block * 100)
        deadline = time.monotonic() + 20
        while status(first)["samples_scored"] < 300 * len(names) + 4000:
            assert time.monotonic() < deadline, "the backlog is not being scored"
            time.sleep(0.005)
        first.kill()
    finally:
        first.stop()
    # Killed in the middle: entries it had read and not finished are left pending.
    held = [own_redis.xpending(metrics_stream(s), GROUP_DETECTOR)["pending"] for s in range(SHARDS)]
    assert sum(held) > 0
    second = service("detector", env, log_dir).start().wait_ready()
    try:
        wait_raised(own_redis, spikes, timeout=30)
    finally:
        second.stop()


def test_a_detector_killed_before_its_checkpoint_loses_no_learning(
    env: dict[str, str], log_dir: Path, own_redis: redis.Redis
) -> None:
    """kill -9 after the series warmed up and before any checkpoint saved it: the entries stay
    pending until a checkpoint covers them, so the next process replays them and is warm at once
    (acknowledged when scored, they would be gone, and every series would warm up again, blind
    to incidents for 200 samples)."""
    env = {**env, "SCOPS_CLAIM_IDLE_MS": "30000", "SCOPS_CHECKPOINT_INTERVAL_S": "3600"}
    names = [f"vm-{i}" for i in range(20)]
    first = service("detector", env, log_dir).start().wait_ready()
    try:
        warm_up(own_redis, first, names, seed=200)
        assert status(first)["series_warming_up"] == 0
        first.kill()
    finally:
        first.stop()
    assert not any(own_redis.hlen(state_key(s)) for s in range(SHARDS))  # nothing was saved
    held = [own_redis.xpending(metrics_stream(s), GROUP_DETECTOR)["pending"] for s in range(SHARDS)]
    assert sum(held) == 3 * len(names)  # every entry scored, none acknowledged

    second = service("detector", env, log_dir).start().wait_ready()
    try:
        wait_scored(second, 300 * len(names))  # the replay
        assert status(second)["series_warming_up"] == 0
        spikes = {name: 80.0 + i for i, name in enumerate(names)}
        for name, value in spikes.items():
            feed(own_redis, name, [value], offset=300)
        wait_raised(own_redis, spikes, timeout=20)
    finally:
        second.stop()  # SIGTERM: saves, then acknowledges everything scored
    assert not any(
        own_redis.xpending(metrics_stream(s), GROUP_DETECTOR)["pending"] for s in range(SHARDS)
    )
    assert sum(own_redis.hlen(state_key(s)) for s in range(SHARDS)) == len(names)


def test_synchronous_scoring_reports_and_leaves_live_state_alone(
    detector: StackProcess, sync_redis: redis.Redis
) -> None:
    scored = status(detector)["samples_scored"]  # by the module's earlier tests
    feed(sync_redis, "web-1", normal(300, seed=2))
    wait_scored(detector, scored + 300)
    at = (START + timedelta(minutes=300)).isoformat()
    ask = {"resource_id": "web-1", "metric": "cpu_utilization", "value": 97.0, "timestamp": at}
    first = httpx.post(f"{detector.url}/anomaly", json=ask).json()
    second = httpx.post(f"{detector.url}/anomaly", json=ask).json()
    assert first == second  # asking twice gives the same answer: nothing was learned
    result = first["results"][0]
    assert first["series_known"] is True
    assert result["is_anomaly"] is True
    assert result["severity"] == "critical"
    assert result["expected_low"] < 40 < result["expected_high"]
    unknown = httpx.post(
        f"{detector.url}/anomaly", json={**ask, "resource_id": "never-seen"}
    ).json()
    assert unknown["series_known"] is False
    assert unknown["results"][0]["warming_up"] is True
    assert status(detector)["samples_scored"] == scored + 300
    assert result["suppressed"] is False
    then = START + timedelta(minutes=300)
    twice = {
        "resource_id": "web-1",
        "metric": "cpu_utilization",
        "points": [
            {"timestamp": (then + timedelta(minutes=m)).isoformat(), "value": 97.0} for m in (0, 1)
        ],
    }
    alarm, muted = httpx.post(f"{detector.url}/anomaly", json=twice).json()["results"]
    assert alarm["is_anomaly"] is True and alarm["suppressed"] is False
    # The same incident a minute later: muted, and the answer says why the score is 0.
    assert (muted["is_anomaly"], muted["score"], muted["suppressed"]) == (False, 0.0, True)

    batch = httpx.post(f"{detector.url}/anomaly/batch", json={"requests": [ask, ask]})
    assert batch.status_code == 200
    assert len(batch.json()) == 2

    bad = httpx.post(f"{detector.url}/anomaly", json={"resource_id": "web-1", "metric": "cpu"})
    assert bad.status_code == 422
    assert "value" in bad.json()["detail"]


def test_feedback_needs_the_internal_token_and_quiets_the_pattern(
    detector: StackProcess, sync_redis: redis.Redis
) -> None:
    scored = status(detector)["samples_scored"]  # by the module's earlier tests
    seen, feedback_seen = sync_redis.xlen(ANOMALIES), sync_redis.xlen("scops:{feedback}")
    feed(sync_redis, "web-2", normal(300, seed=3))
    feed(sync_redis, "web-2", [75.0], offset=300)
    wait_scored(detector, scored + 301)
    deadline = time.monotonic() + 10
    while not anomalies(sync_redis, seen):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    anomaly = anomalies(sync_redis, seen)[0]
    assert anomaly["resource_id"] == "web-2"
    anomaly_id = anomaly["event_id"]
    url = f"{detector.url}/anomaly/{anomaly_id}/feedback"
    body = {"verdict": "false_positive", "by": "alice"}

    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"X-Internal-Token": "wrong"}).status_code == 401
    missing = httpx.post(
        f"{detector.url}/anomaly/00000000-0000-0000-0000-000000000000/feedback",
        json=body,
        headers={"X-Internal-Token": TOKEN},
    )
    assert missing.status_code == 404

    reply = httpx.post(url, json=body, headers={"X-Internal-Token": TOKEN})
    assert reply.status_code == 200
    assert reply.json()["applied"] is True
    assert reply.json()["threshold_bias"] > 0
    recorded = sync_redis.xrange("scops:{feedback}")[feedback_seen:]
    assert len(recorded) == 1
    assert recorded[0][1][b"by"] == b"alice"
    at = (START + timedelta(minutes=301)).isoformat()
    ask = {"resource_id": "web-2", "metric": "cpu_utilization", "value": 74.0, "timestamp": at}
    assert (
        httpx.post(f"{detector.url}/anomaly", json=ask).json()["results"][0]["is_anomaly"] is False
    )


def published(client: redis.Redis) -> list[tuple[str, str, str]]:
    """(type, event id, anomaly id of a resolution) of every event on the anomalies stream."""
    events = [json.loads(f[b"data"]) for _, f in client.xrange(ANOMALIES)]
    return [(e["type"], e["event_id"], e.get("anomaly_id", "")) for e in events]


def test_a_restart_from_a_checkpoint_older_than_the_last_publish_republishes_the_same_ids(
    env: dict[str, str], log_dir: Path, own_redis: redis.Redis
) -> None:
    env = {
        **env,
        # A hard limit opens the episode at "low", so that its duration escalates it.
        "SCOPS_HARD_LIMITS": '[{"metric": "queue_percent", "above": 93, "severity": "low"}]',
        "SCOPS_ESCALATE_AFTER_S": "600",
    }
    rng = random.Random(7)
    steady = [min(rng.gauss(90, 2), 92.5) for _ in range(300)]
    # then 20 minutes of normal samples: a minute apart, 15 of them resolve the episode
    incident = [93.2 + rng.random() * 0.3 for _ in range(15)] + [
        90.0 + rng.random() for _ in range(20)
    ]
    key = state_key(shard_of("queue-1", SHARDS))
    last_steady = (START + timedelta(minutes=299)).timestamp()

    first = service("detector", env, log_dir).start().wait_ready()
    try:
        feed(own_redis, "queue-1", steady, metric="queue_percent")
        deadline = time.monotonic() + 20
        while True:  # the checkpoint holds every steady sample, nothing of the incident
            saved = own_redis.hgetall(key)
            states = [json.loads(v) for v in saved.values()]
            if states and states[0]["t"] == last_steady:
                break
            assert time.monotonic() < deadline, "no checkpoint of the steady series"
            time.sleep(0.05)
        feed(own_redis, "queue-1", incident, offset=300, metric="queue_percent")
        deadline = time.monotonic() + 20
        while not any(t == "anomaly.resolved.v1" for t, _, _ in published(own_redis)):
            assert time.monotonic() < deadline, published(own_redis)
            time.sleep(0.05)
    finally:
        first.stop()  # saves its newer state on the way out
    before = published(own_redis)
    kinds = [t for t, _, _ in before]
    assert kinds.count("anomaly.detected.v1") >= 2  # opened, then escalated
    assert kinds[-1] == "anomaly.resolved.v1"

    # Back to the older checkpoint, as after a crash before the next save.
    own_redis.delete(key)
    own_redis.hset(key, mapping=saved)
    second = service("detector", env, log_dir).start().wait_ready()
    try:
        feed(own_redis, "queue-1", incident, offset=300, metric="queue_percent")  # the replay
        wait_scored(second, len(incident))
        deadline = time.monotonic() + 10
        while len(published(own_redis)) < 2 * len(before):
            assert time.monotonic() < deadline, published(own_redis)
            time.sleep(0.05)
    finally:
        second.stop()
    after = published(own_redis)
    assert after[len(before) :] == before  # republished, each with the id it had
    assert len({event_id for _, event_id, _ in after}) == len(before)  # nothing new to act on


def test_feedback_can_be_given_on_an_anomaly_as_soon_as_it_is_read(
    detector: StackProcess, sync_redis: redis.Redis
) -> None:
    """What feedback needs is stored before the anomaly is on the stream: a reader that acts on
    the event at once (the notifier's buttons, ChatOps) never finds it missing."""
    resources = [f"reader-{i}" for i in range(6)]
    scored = status(detector)["samples_scored"]
    for i, resource in enumerate(resources):
        feed(sync_redis, resource, normal(300, seed=10 + i))
    wait_scored(detector, scored + 300 * len(resources))
    last = sync_redis.xrevrange(ANOMALIES, count=1)
    position = last[0][0] if last else b"0-0"
    for resource in resources:
        feed(sync_redis, resource, [95.0], offset=300)
    found: list[bool] = []
    deadline = time.monotonic() + 20
    while len(found) < len(resources):
        assert time.monotonic() < deadline, found
        rows = sync_redis.xread({ANOMALIES: position}, block=1000, count=1)
        for entry_id, fields in rows[0][1] if rows else []:
            position = entry_id
            event = json.loads(fields[b"data"])
            if event["type"] == "anomaly.detected.v1" and event["resource_id"] in resources:
                found.append(sync_redis.exists(anomaly_key(event["event_id"])) == 1)
    assert all(found), found

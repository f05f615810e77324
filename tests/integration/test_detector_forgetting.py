"""Forgotten series leave the checkpoint in Redis: deleted by the next round, before any state
it writes, so one seen again meanwhile keeps its new state; deletions that failed are made by
the round after. A detector process forgets a series gone silent while others kept sending."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import redis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from scops.local_redis import free_port
from services.detector.checkpoint import SEP, Checkpointer, state_key
from services.detector.detection_engine import DetectionEngine, SeriesState
from services.detector.scoring.config import DetectorConfig
from shared.metric_batches import ColumnBatch
from shared.streams import shard_of
from tests.integration.test_detector_checkpoint import SHARDS, START_US, fed_engine
from tests.integration.test_detector_service import SHARDS as SERVICE_SHARDS
from tests.integration.test_detector_service import detector_env, feed, normal, status
from tests.support.forgetting import forget_all
from tests.support.processes import StackProcess, service

HOUR = 3600.0


def send(engine: DetectionEngine, names: list[str], seconds: float) -> None:
    """One sample of each of ``names``, ``seconds`` after the fed engines' first."""
    engine.process_columns(
        ColumnBatch(
            event_id="e",
            correlation_id="c",
            occurred_at=datetime.now(UTC),
            resource_id=names,
            metric=["cpu_utilization"] * len(names),
            value=[40.0] * len(names),
            timestamp_us=[START_US + int(seconds * 1e6)] * len(names),
        )
    )


async def saved_names(redis: Redis) -> set[str]:
    names: set[str] = set()
    for shard in range(SHARDS):
        fields = await redis.hkeys(state_key(shard))
        names |= {f.decode().partition(SEP)[0] for f in fields}
    return names


async def restored(redis: Redis) -> DetectionEngine:
    engine = DetectionEngine.with_warmup(10, max_future_s=None)
    await Checkpointer(redis, engine, SHARDS).load(list(range(SHARDS)))
    return engine


async def test_a_forgotten_series_leaves_the_checkpoint_and_is_not_written_back(
    async_redis: Redis,
) -> None:
    engine = fed_engine(6)  # host-0 .. host-5, samples a minute apart
    checkpointer = Checkpointer(async_redis, engine, SHARDS)
    assert await checkpointer.save() == 6
    send(engine, [f"host-{i}" for i in range(6)], 30 * 60.0)  # every series changed again
    send(engine, ["host-0", "host-1", "host-2"], 30 * 60.0 + 2 * HOUR)
    assert forget_all(engine, HOUR) == 3  # changed and not saved: dropped all the same

    assert await checkpointer.save() == 3
    assert checkpointer.deleted_series == 3
    assert await saved_names(async_redis) == {"host-0", "host-1", "host-2"}
    assert {key[0] for key in (await restored(async_redis)).series} == {
        "host-0",
        "host-1",
        "host-2",
    }
    assert not engine.forgotten


async def test_a_series_forgotten_then_seen_again_keeps_its_new_state(async_redis: Redis) -> None:
    engine = fed_engine(3)
    checkpointer = Checkpointer(async_redis, engine, SHARDS)
    await checkpointer.save()
    send(engine, ["host-0", "host-1"], 2 * HOUR)
    assert forget_all(engine, HOUR) == 1  # host-2, saved with 30 samples learned
    send(engine, ["host-2"], 2 * HOUR + 60)  # back before the next round: afresh

    await checkpointer.save()
    assert await saved_names(async_redis) == {"host-0", "host-1", "host-2"}
    again = await restored(async_redis)
    assert again.series[("host-2", "cpu_utilization")].detector.n == 1
    assert again.series[("host-0", "cpu_utilization")].detector.n == 31


async def test_deletions_that_failed_are_made_by_the_next_round(async_redis: Redis) -> None:
    engine = fed_engine(12)
    await Checkpointer(async_redis, engine, SHARDS).save()
    send(engine, ["host-0"], 2 * HOUR)
    assert forget_all(engine, HOUR) == 11
    unreachable = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(RedisError):
            await Checkpointer(unreachable, engine, SHARDS, write_every=4).save()
    finally:
        await unreachable.aclose()
    assert len(engine.forgotten) == 11

    # More deletions than one write carries: round trips of their own first.
    checkpointer = Checkpointer(async_redis, engine, SHARDS, write_every=4)
    assert await checkpointer.save() == 1
    assert checkpointer.deleted_series == 11
    assert await saved_names(async_redis) == {"host-0"}
    assert not engine.forgotten


def saved_state(client: redis.Redis, resource: str, metric: str) -> SeriesState | None:
    key = state_key(shard_of(resource, SERVICE_SHARDS))
    raw = client.hget(key, f"{resource}{SEP}{metric}")
    if raw is None:
        return None
    return SeriesState.from_state(json.loads(raw), DetectorConfig())


def forgotten_total(process: StackProcess) -> float:
    text = httpx.get(f"{process.url}/metrics").text
    found = re.search(r"^ml_series_forgotten_total (\S+)$", text, re.MULTILINE)
    assert found, "ml_series_forgotten_total not exported"
    return float(found.group(1))


def test_a_detector_forgets_a_silent_series_and_a_returning_one_starts_afresh(
    redis_url: str, log_dir: Path
) -> None:
    client = redis.Redis.from_url(redis_url)
    # Ten minutes of silence on the stream's clock: ten of a minutely series' intervals.
    env = {**detector_env(redis_url), "SCOPS_FORGET_AFTER_S": "1"}
    detector = service("detector", env, log_dir).start().wait_ready()
    try:
        feed(client, "pod-old", normal(30, seed=1))
        feed(client, "pod-new", normal(60, seed=2))
        deadline = time.monotonic() + 10
        while True:
            body = status(detector)
            if (
                body["samples_scored"] == 90
                and body["series_tracked"] == 1
                and saved_state(client, "pod-old", "cpu_utilization") is None
                and saved_state(client, "pod-new", "cpu_utilization") is not None
            ):
                break
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        assert forgotten_total(detector) == 1

        feed(client, "pod-old", normal(3, seed=3), offset=60)  # the same name, back
        deadline = time.monotonic() + 10
        while (state := saved_state(client, "pod-old", "cpu_utilization")) is None:
            assert time.monotonic() < deadline, status(detector)
            time.sleep(0.05)
        assert state.detector.n <= 3  # learned afresh, not the 30 samples of before
    finally:
        detector.stop()
        client.close()
    logged = (log_dir / "detector.log").read_text()
    assert '"silent_series_forgotten"' in logged

"""The API's dispatcher on a real Redis: a read's anomalies are queued as Celery tasks together
and acknowledged only once queued; what could not be queued stays pending and is queued when
redelivered; and a dispatcher that dies between queueing and acknowledging leaves, with a real
worker, one decision per anomaly."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from celery import Celery
from redis.asyncio import Redis as AsyncRedis

from scops.local_redis import free_port
from services.remediator.celery_config import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.dispatcher import AnomalyDispatcher
from services.remediator.stores import redis_keys
from shared.bus import ConsumerOptions, EventBus, StreamConsumer, StreamEntry
from shared.events import AnomalyEvent, AnomalyResolved, Event, Severity, decode_event, utcnow
from shared.streams import ANOMALIES, GROUP_REMEDIATOR
from shared.tasks import REMEDIATION_QUEUE
from tests.support.events import cpu_anomaly
from tests.support.processes import stack_env, worker
from tests.support.records import remediation_records
from tests.support.waiting import wait_for

RULES = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*, severity_at_least: high}
    actions: [{action: restart_service, params: {service: app}}]
"""


def anomalies(count: int, prefix: str = "web") -> list[AnomalyEvent]:
    start = datetime.now(UTC) - timedelta(minutes=1)
    return [cpu_anomaly(f"{prefix}-{n}", start + timedelta(seconds=n)) for n in range(count)]


def resolution(resource_id: str) -> AnomalyResolved:
    event = cpu_anomaly(resource_id)
    return AnomalyResolved(
        anomaly_id=event.event_id,
        resource_id=resource_id,
        metric="cpu_utilization",
        started_at=event.observed_at,
        resolved_at=utcnow(),
        duration_s=60,
        peak_severity=Severity.CRITICAL,
        last_value=30,
    )


def consumer(client: AsyncRedis, celery: Celery, name: str) -> StreamConsumer:
    dispatcher = AnomalyDispatcher(celery, client)
    return StreamConsumer(
        client,
        streams=[ANOMALIES],
        group=GROUP_REMEDIATOR,
        consumer=name,
        handler=dispatcher,
        events_handler=dispatcher.dispatch,
        options=ConsumerOptions(block_ms=50, claim_idle_ms=100),
    )


async def publish(client: AsyncRedis, events: list[Event]) -> None:
    await EventBus(client, maxlen=10_000).publish_many((ANOMALIES, event) for event in events)


def queued_task_ids(sync_redis: redis.Redis) -> list[str]:
    """The task ids waiting in the workers' queue, oldest first (LPUSHed, taken from the
    right)."""
    messages = sync_redis.lrange(REMEDIATION_QUEUE, 0, -1)
    return [json.loads(message)["headers"]["id"] for message in reversed(messages)]


async def pending(client: AsyncRedis) -> int:
    return int((await client.xpending(ANOMALIES, GROUP_REMEDIATOR))["pending"])


async def test_a_read_of_anomalies_is_queued_together_in_order_and_then_acknowledged(
    redis_url: str, async_redis: AsyncRedis, sync_redis: redis.Redis
) -> None:
    first, second = anomalies(5), anomalies(3, prefix="db")
    sync_redis.set(redis_keys.debounce("web-9", "cpu_utilization"), "1")  # a streak going
    celery = create_celery(RemediatorSettings(redis_url=redis_url))
    reader = consumer(async_redis, celery, "a")
    await reader.ensure_groups()
    await publish(async_redis, [*first, resolution("web-9"), *second])
    try:
        assert await reader.read_once() == 9
    finally:
        celery.close()
    assert queued_task_ids(sync_redis) == [f"anomaly-{e.event_id}" for e in [*first, *second]]
    assert not sync_redis.exists(redis_keys.debounce("web-9", "cpu_utilization"))  # resolved
    assert await pending(async_redis) == 0


async def test_anomalies_whose_tasks_cannot_be_queued_stay_pending_and_are_queued_later(
    redis_url: str, async_redis: AsyncRedis, sync_redis: redis.Redis
) -> None:
    events = anomalies(3)
    # The broker is away (nothing listens there) while the stream is read.
    away = create_celery(RemediatorSettings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    away.conf.task_publish_retry = False  # fail at once rather than after the retries
    away.conf.broker_transport_options = {"max_retries": 0}
    failing = consumer(async_redis, away, "a")
    await failing.ensure_groups()
    await publish(async_redis, list(events))
    try:
        assert await failing.read_once() == 3
    finally:
        away.close()
    assert queued_task_ids(sync_redis) == []
    assert await pending(async_redis) == 3  # not acknowledged: nothing is lost

    await asyncio.sleep(0.15)  # idle longer than claim_idle_ms (100 ms): the point of the test
    celery = create_celery(RemediatorSettings(redis_url=redis_url))
    try:
        assert await consumer(async_redis, celery, "b").reclaim() == 3
    finally:
        celery.close()
    assert queued_task_ids(sync_redis) == [f"anomaly-{e.event_id}" for e in events]
    assert await pending(async_redis) == 0


def test_a_dispatcher_dying_between_queueing_and_acknowledging_leaves_one_decision_each(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    env = stack_env(redis_url, {"SCOPS_RULES_PATH": str(rules), "SCOPS_DRY_RUN": "true"})
    events = anomalies(6)
    celery = create_celery(RemediatorSettings(redis_url=redis_url))

    async def queue_twice() -> None:
        client = AsyncRedis.from_url(redis_url)
        try:
            following = consumer(client, celery, "next")
            await following.ensure_groups()
            await publish(client, list(events))
            # The first reader queues the tasks and dies before acknowledging: its read
            # stays pending, as after kill -9.
            reply = await client.xreadgroup(GROUP_REMEDIATOR, "dying", {ANOMALIES: ">"})
            read = [
                StreamEntry(ANOMALIES, entry_id.decode(), decode_event(AnomalyEvent.TYPE, data))
                for _stream, batch in reply
                for entry_id, data in ((i, f[b"data"]) for i, f in batch)
            ]
            assert await AnomalyDispatcher(celery, client).dispatch(read) == []
            assert await pending(client) == 6
            await asyncio.sleep(0.15)  # idle longer than claim_idle_ms (100 ms)
            assert await following.reclaim() == 6
            assert await pending(client) == 0
        finally:
            await client.aclose()

    try:
        asyncio.run(queue_twice())
        assert len(queued_task_ids(sync_redis)) == 12  # each anomaly's task twice
        proc = worker(env, log_dir, concurrency=2).start()

        def all_run() -> bool:  # late acknowledgement: a task leaves `unacked` once it ran
            decided = {record.anomaly_id for record in remediation_records(sync_redis)}
            queue_empty = sync_redis.llen(REMEDIATION_QUEUE) == 0
            return len(decided) == 6 and queue_empty and sync_redis.hlen("unacked") == 0

        wait_for(proc, all_run, 60, "both copies of every task to run")
        assert proc.stop() == 0, proc.log_tail()
    finally:
        celery.close()
    decided = [record.anomaly_id for record in remediation_records(sync_redis)]
    assert sorted(decided) == sorted(e.event_id for e in events)  # one decision each

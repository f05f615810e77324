"""The history's consumer, run by the service's own loop, writes what one read returns in one
transaction: a burst of events costs a few commits, not one each."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from prometheus_client import REGISTRY
from redis.asyncio import Redis

from services.history.consumer import BatchConsumer
from services.history.store.database import create_engine, migrate, sessions
from services.history.store.reader import HistoryReader, IncidentFilter
from services.history.store.writer import HistoryWriter
from shared.bus import ConsumerOptions, encode_event
from shared.events import Event, utcnow
from tests.integration.incident_history.running import STREAM_OF
from tests.support.incident_story import whole_incident


def _observed(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_a_burst_is_written_in_a_few_transactions(async_redis: Redis, tmp_path: Path) -> None:
    start = utcnow() - timedelta(hours=1)
    events: list[Event] = []
    for i in range(30):
        events += whole_incident(f"web-{i}", "cpu_utilization", start + timedelta(seconds=i))
    for event in events:
        await async_redis.xadd(STREAM_OF[type(event)], encode_event(event))
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'history.db'}")
    await migrate(engine)
    maker = sessions(engine)
    consumer = BatchConsumer(
        async_redis,
        writer=HistoryWriter(engine, maker),
        streams=sorted(set(STREAM_OF.values())),
        consumer="burst",
        options=ConsumerOptions(batch=100, block_ms=50),
    )
    writes_before = _observed("history_write_seconds_count")
    stop = asyncio.Event()
    loop = asyncio.create_task(consumer.run(stop))
    reader = HistoryReader(maker)
    try:
        for _ in range(200):
            page = await reader.incidents(IncidentFilter(status="resolved"), 100)
            if len(page.items) == 30 and all(i.events == 11 for i in page.items):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await loop
        await engine.dispose()
    assert len(page.items) == 30 and all(i.events == 11 for i in page.items)
    transactions = _observed("history_write_seconds_count") - writes_before
    assert 1 <= transactions <= len(events) / 20  # 300 events

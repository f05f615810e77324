"""The composition root: the history's parts built once from the settings and the clients the
app's lifespan created, and run together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.history.config import HistorySettings
from services.history.consumer import BatchConsumer, FeedbackReader
from services.history.store.database import sessions
from services.history.store.reader import HistoryReader
from services.history.store.upkeep import Upkeep
from services.history.store.writer import HistoryWriter
from services.history.upkeep import Every, copy_silences, prune
from shared.bus import consumer_name, consumer_options
from shared.stream_group import Loop, running
from shared.streams import ANOMALIES, NOTIFICATIONS, REMEDIATIONS

STREAMS = (ANOMALIES, REMEDIATIONS, NOTIFICATIONS)


@dataclass
class History:
    settings: HistorySettings
    redis: Redis
    engine: AsyncEngine
    writer: HistoryWriter
    reader: HistoryReader
    upkeep: Upkeep
    consumer: BatchConsumer
    feedback: FeedbackReader

    @asynccontextmanager
    async def running(self, grace_s: float = 10.0) -> AsyncIterator[None]:
        """The stream consumer, the feedback reader and the upkeep timers in the background;
        on exit each finishes what it read (what is not written stays pending)."""
        await self.consumer.ensure_groups()
        await self.feedback.ensure_group()
        settings = self.settings

        async def silences() -> None:
            await copy_silences(self.redis, self.upkeep)

        async def retention() -> None:
            await prune(self.upkeep, settings.history_retention_days)

        loops: list[Loop] = [
            self.consumer,
            self.feedback,
            Every(settings.history_silence_poll_s, silences),
            Every(settings.history_retention_interval_s, retention),
        ]
        async with running(loops, grace_s):
            yield


def build(settings: HistorySettings, redis: Redis, engine: AsyncEngine) -> History:
    maker = sessions(engine)
    writer = HistoryWriter(engine, maker)
    options = consumer_options(settings)
    name = consumer_name("history")
    consumer = BatchConsumer(
        redis, writer=writer, streams=list(STREAMS), consumer=name, options=options
    )
    return History(
        settings=settings,
        redis=redis,
        engine=engine,
        writer=writer,
        reader=HistoryReader(maker),
        upkeep=Upkeep(engine, maker),
        consumer=consumer,
        feedback=FeedbackReader(redis, writer, consumer=name, options=options),
    )

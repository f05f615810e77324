"""A consumer that reads entries and then hangs before acknowledging (the test SIGKILLs it).

Usage: python -m tests.support.stuck_consumer REDIS_URL STREAM GROUP
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from shared.bus import ConsumerOptions, StreamConsumer, StreamEntry


async def main(url: str, stream: str, group: str) -> None:
    redis = Redis.from_url(url)

    async def hang(entry: StreamEntry) -> None:
        print(f"READ {entry.entry_id}", flush=True)
        await asyncio.sleep(3600)

    consumer = StreamConsumer(
        redis,
        streams=[stream],
        group=group,
        consumer="doomed",
        handler=hang,
        options=ConsumerOptions(batch=10, block_ms=100, claim_idle_ms=600_000),
    )
    await consumer.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))

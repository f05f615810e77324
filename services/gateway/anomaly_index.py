"""A queryable index of recent anomalies, fed from the anomalies stream.

Each anomaly is kept (as its event JSON, plus ``resolved_at`` once resolved) for
``days`` days, findable by id, by time and by resource. Written by the gateway's own consumer
group, so every replica serves the same answers.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from shared.bus import StreamEntry
from shared.events import AnomalyEvent, AnomalyResolved, Severity
from shared.streams import PREFIX

BASE = f"{PREFIX}:{{anomaly-index}}"
BY_TIME = f"{BASE}:by-time"


def item_key(anomaly_id: str) -> str:
    return f"{BASE}:a:{anomaly_id}"


def resource_key(resource_id: str) -> str:
    return f"{BASE}:r:{resource_id}"


class AnomalyIndex:
    def __init__(self, redis: Redis, days: int) -> None:
        self.redis = redis
        self.ttl_s = days * 86400

    async def handle(self, entry: StreamEntry) -> None:
        event = entry.event
        if isinstance(event, AnomalyEvent):
            await self.add(event)
        elif isinstance(event, AnomalyResolved):
            await self.resolve(event)

    async def add(self, event: AnomalyEvent) -> None:
        anomaly_id = str(event.event_id)
        score = event.observed_at.timestamp()
        horizon = time.time() - self.ttl_s
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(item_key(anomaly_id), event.model_dump_json(), ex=self.ttl_s)
            pipe.zadd(BY_TIME, {anomaly_id: score})
            pipe.zadd(resource_key(event.resource_id), {anomaly_id: score})
            pipe.expire(resource_key(event.resource_id), self.ttl_s)
            pipe.zremrangebyscore(BY_TIME, "-inf", horizon)
            await pipe.execute()

    async def resolve(self, event: AnomalyResolved) -> None:
        key = item_key(str(event.anomaly_id))
        raw = await self.redis.get(key)
        if raw is None:
            return
        data = json.loads(raw)
        data["resolved_at"] = event.resolved_at.isoformat()
        data["duration_s"] = event.duration_s
        await self.redis.set(key, json.dumps(data), keepttl=True)

    async def get(self, anomaly_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get(item_key(anomaly_id))
        return None if raw is None else dict(json.loads(raw))

    async def query(self, q: Query) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; the cursor continues where this page stopped."""
        index = resource_key(q.resource_id) if q.resource_id else BY_TIME
        top, skip = q.until, 0
        if q.cursor:
            stamp, _, count = q.cursor.partition(":")
            top, skip = min(float(stamp), top), int(count or 0)
        items: list[dict[str, Any]] = []
        while len(items) < q.limit:
            rows = await self.redis.zrevrangebyscore(
                index, top, q.since, start=skip, num=q.limit * 2, withscores=True
            )
            if not rows:
                return items, None
            ids = [r[0].decode() for r in rows]
            raws = await self.redis.mget([item_key(i) for i in ids])
            for (_, score), raw in zip(rows, raws, strict=True):
                skip = skip + 1 if score == top else 1
                top = score
                if raw is None:
                    continue
                data = json.loads(raw)
                if Severity(data["severity"]).rank >= q.min_severity.rank:
                    items.append(data)
                if len(items) == q.limit:
                    return items, f"{top}:{skip}"
        return items, f"{top}:{skip}"


# A page's cursor: the score (a time, as Python writes a float) and how many items of that
# score were already given (a 64-bit count). The documents say so; a score too large for a
# float reads as infinity (the newest or oldest end), which is still a position.
ANOMALY_CURSOR_PATTERN = r"^-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?:[0-9]{1,18}$"
_CURSOR = re.compile(ANOMALY_CURSOR_PATTERN)


def valid_cursor(cursor: str) -> bool:
    return _CURSOR.fullmatch(cursor) is not None


@dataclass(frozen=True)
class Query:
    resource_id: str | None = None
    min_severity: Severity = Severity.NORMAL
    since: float = float("-inf")
    until: float = float("inf")
    limit: int = 50
    cursor: str | None = None

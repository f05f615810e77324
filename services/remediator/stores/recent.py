"""What else is anomalous on a resource right now: the engine's context.

Each anomaly event adds its metric to a per-resource sorted set scored by observation time;
an ``anomaly.resolved`` event removes it. Entries older than the window drop out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from services.remediator.stores import redis_keys
from shared.events import AnomalyEvent

WINDOW_S = 600


class RecentAnomalies:
    def __init__(self, client: redis.Redis, window_s: float = WINDOW_S) -> None:
        self.redis = client
        self.window_ms = int(window_s * 1000)

    def note_and_read(self, anomaly: AnomalyEvent) -> frozenset[str]:
        with self.redis.pipeline(transaction=True) as pipe:
            read = self.queue_note_and_read(pipe, anomaly)
            return read(pipe.execute())

    def queue_note_and_read(
        self, pipe: redis.client.Pipeline, anomaly: AnomalyEvent
    ) -> Callable[[list[Any]], frozenset[str]]:
        """Queues :meth:`note_and_read` on ``pipe`` (a transaction, sent with other reads);
        the returned function reads its answer from the pipeline's replies."""
        key = redis_keys.recent(anomaly.resource_id)
        at = int(anomaly.observed_at.timestamp() * 1000)
        pipe.zadd(key, {anomaly.metric: at}, gt=True)
        pipe.zadd(key, {anomaly.metric: at}, nx=True)
        pipe.zremrangebyscore(key, "-inf", at - 2 * self.window_ms)
        pipe.pexpire(key, 2 * self.window_ms)
        pipe.zrangebyscore(key, at - self.window_ms, "+inf")
        last = len(pipe) - 1

        def read(replies: list[Any]) -> frozenset[str]:
            return frozenset(m.decode() for m in replies[last]) - {anomaly.metric}

        return read

    def read(self, anomaly: AnomalyEvent) -> frozenset[str]:
        at = int(anomaly.observed_at.timestamp() * 1000)
        metrics = self.redis.zrangebyscore(
            redis_keys.recent(anomaly.resource_id), at - self.window_ms, "+inf"
        )
        return frozenset(m.decode() for m in metrics) - {anomaly.metric}

    def resolved(self, resource_id: str, metric: str) -> None:
        self.redis.zrem(redis_keys.recent(resource_id), metric)

"""What else is anomalous on a resource right now: the engine's context.

Each anomaly event adds its metric to a per-resource sorted set scored by observation time;
an ``anomaly.resolved`` event removes it. Entries older than the window drop out.
"""

from __future__ import annotations

import redis

from services.remediator.stores import keys
from shared.events import AnomalyEvent

WINDOW_S = 600


class RecentAnomalies:
    def __init__(self, client: redis.Redis, window_s: float = WINDOW_S) -> None:
        self.redis = client
        self.window_ms = int(window_s * 1000)

    def note_and_read(self, anomaly: AnomalyEvent) -> frozenset[str]:
        key = keys.recent(anomaly.resource_id)
        at = int(anomaly.observed_at.timestamp() * 1000)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {anomaly.metric: at}, gt=True)
            pipe.zadd(key, {anomaly.metric: at}, nx=True)
            pipe.zremrangebyscore(key, "-inf", at - 2 * self.window_ms)
            pipe.pexpire(key, 2 * self.window_ms)
            pipe.zrangebyscore(key, at - self.window_ms, "+inf")
            metrics = pipe.execute()[-1]
        return frozenset(m.decode() for m in metrics) - {anomaly.metric}

    def read(self, anomaly: AnomalyEvent) -> frozenset[str]:
        at = int(anomaly.observed_at.timestamp() * 1000)
        metrics = self.redis.zrangebyscore(
            keys.recent(anomaly.resource_id), at - self.window_ms, "+inf"
        )
        return frozenset(m.decode() for m in metrics) - {anomaly.metric}

    def resolved(self, resource_id: str, metric: str) -> None:
        self.redis.zrem(keys.recent(resource_id), metric)

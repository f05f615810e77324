"""Debounce: a rule acts only once its condition has held long enough (``for:``) over enough
anomaly events (``for_samples:``), like Prometheus' ``for:``.

The streak of one rule on one series (resource x metric) lives in a Redis hash, updated
atomically once per anomaly event (the claim guarantees once). The time held is the longer of
the detector's ``lasted_s`` and the span of the streak's events. A gap longer than the rule's
``reset_after`` starts a new streak; an ``anomaly.resolved`` event for the series ends it.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from services.remediator.core.durations import format_duration
from services.remediator.core.rules.schema import Rule
from services.remediator.stores import redis_keys
from shared.events import AnomalyEvent

# KEYS: 1 the series' debounce hash
# ARGV: 1 rule, 2 episode start ms, 3 observed ms, 4 gap ms, 5 mode (update|peek), 6 ttl ms
STREAK = """
local rule = ARGV[1]
local start, observed, gap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local first = tonumber(redis.call('HGET', KEYS[1], rule .. ':first'))
local last = tonumber(redis.call('HGET', KEYS[1], rule .. ':last'))
local count = tonumber(redis.call('HGET', KEYS[1], rule .. ':count'))
if not first or observed - last > gap then
  first, last, count = start, observed, 1
else
  count = count + 1
  if observed > last then last = observed end
  if start < first then first = start end
end
if ARGV[5] == 'update' then
  redis.call('HSET', KEYS[1], rule .. ':first', first, rule .. ':last', last,
             rule .. ':count', count)
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
return {first, last, count}
"""


@dataclass(frozen=True)
class Streak:
    first_ms: int
    last_ms: int
    events: int
    lasted_s: float

    @property
    def held_s(self) -> float:
        return max(self.lasted_s, (self.last_ms - self.first_ms) / 1000)

    def satisfied(self, rule: Rule) -> bool:
        return self.held_s >= rule.for_ and self.events >= rule.for_samples

    def wait_s(self, rule: Rule) -> float | None:
        """Seconds until the duration is met, when only time is missing (else None)."""
        if self.events < rule.for_samples or rule.for_ <= 0:
            return None
        return max(rule.for_ - self.held_s, 0.0)

    def explain(self, rule: Rule) -> str:
        needs = []
        if rule.for_ > 0:
            needs.append(
                f"held {format_duration(rule.for_)} (so far {format_duration(round(self.held_s))})"
            )
        if rule.for_samples > 1:
            needs.append(f"{rule.for_samples} anomaly events (so far {self.events})")
        return f"rule {rule.name} acts once the condition has " + " and ".join(needs)


class Debouncer:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._streak = client.register_script(STREAK)

    def observe(self, rule: Rule, anomaly: AnomalyEvent) -> Streak:
        return self._call(rule, anomaly, "update")

    def peek(self, rule: Rule, anomaly: AnomalyEvent) -> Streak:
        """What :meth:`observe` would answer for this event, changing nothing."""
        return self._call(rule, anomaly, "peek")

    def _call(self, rule: Rule, anomaly: AnomalyEvent, mode: str) -> Streak:
        observed_ms = int(anomaly.observed_at.timestamp() * 1000)
        started = anomaly.episode_started_at or anomaly.observed_at
        gap_ms = int(rule.streak_gap * 1000)
        first, last, count = self._streak(
            keys=[redis_keys.debounce(anomaly.resource_id, anomaly.metric)],
            args=[
                rule.name,
                int(started.timestamp() * 1000),
                observed_ms,
                gap_ms,
                mode,
                gap_ms + int(rule.for_ * 1000) + 60_000,
            ],
        )
        return Streak(int(first), int(last), int(count), anomaly.lasted_s)

    def still_open(self, rule: Rule, anomaly: AnomalyEvent) -> bool:
        """The streak this anomaly belongs to has not been ended (by a resolved event or gap)."""
        key = redis_keys.debounce(anomaly.resource_id, anomaly.metric)
        first = self.redis.hget(key, f"{rule.name}:first")
        started = anomaly.episode_started_at or anomaly.observed_at
        return first is not None and int(first) <= int(started.timestamp() * 1000)

    def end(self, resource_id: str, metric: str) -> None:
        self.redis.delete(redis_keys.debounce(resource_id, metric))

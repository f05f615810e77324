"""Silences kept in Redis (one hash), shared by every notifier replica.

Reads are cached for a moment: the intake and the scheduler consult silences for every event
and every flush, and a silence taking effect a second late is harmless.
"""

from __future__ import annotations

import time
from datetime import datetime

from redis.asyncio import Redis

from services.notifier import redis_keys
from services.notifier.core.silences import Silence
from services.notifier.errors import SilenceNotFoundError
from shared.events import utcnow

CACHE_S = 1.0
# A silence created once per request id: nil when created now, else the silence the first
# request with that id created (as it was then; nothing written). The marker and the silence are
# written together, so a request sent again finds either both or neither.
ADD_ONCE = """
local first = redis.call('GET', KEYS[1])
if first then return first end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return false
"""


class SilenceStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._cache: tuple[float, list[Silence]] | None = None
        self._add_once = redis.register_script(ADD_ONCE)

    async def add(self, silence: Silence, request_id: str | None = None) -> Silence:
        """Keeps ``silence``; with a ``request_id`` only the first time that id is given
        (for ``MARKER_TTL_S``): the same request sent again answers the silence the first one
        created, even one ended since, and creates none."""
        encoded = silence.model_dump_json()
        if request_id is None:
            await self.redis.hset(redis_keys.SILENCES, silence.id, encoded)
        else:
            keys = [redis_keys.silence_request(request_id), redis_keys.SILENCES]
            first = await self._add_once(
                keys=keys, args=[silence.id, encoded, redis_keys.MARKER_TTL_S]
            )
            if first is not None:
                return Silence.model_validate_json(first)
        self._cache = None
        return silence

    async def expire(self, silence_id: str) -> Silence:
        raw = await self.redis.hget(redis_keys.SILENCES, silence_id)
        if raw is None:
            raise SilenceNotFoundError(silence_id)
        silence = Silence.model_validate_json(raw)
        now = utcnow()
        if silence.ends_at > now:
            starts = min(silence.starts_at, now)
            silence = silence.model_copy(update={"starts_at": starts, "ends_at": now})
        await self.redis.hdel(redis_keys.SILENCES, silence_id)
        self._cache = None
        return silence

    async def all(self) -> list[Silence]:
        """Active and future silences; expired ones are removed on the way."""
        rows = await self.redis.hgetall(redis_keys.SILENCES)
        now = utcnow()
        kept: list[Silence] = []
        ended: list[Silence] = []
        for raw in rows.values():
            silence = Silence.model_validate_json(raw)
            (kept if silence.ends_at > now else ended).append(silence)
        if ended:
            await self.redis.hdel(redis_keys.SILENCES, *[s.id for s in ended])
        return sorted(kept, key=lambda s: s.ends_at)

    async def active(self, now: datetime | None = None) -> list[Silence]:
        moment = time.monotonic()
        if self._cache is None or moment - self._cache[0] > CACHE_S:
            self._cache = (moment, await self.all())
        at = now or utcnow()
        return [s for s in self._cache[1] if s.active(at)]

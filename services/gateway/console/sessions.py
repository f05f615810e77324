"""Console sessions: an API key exchanged for a random session token, kept in Redis.

The cookie carries only the token; Redis holds, under the token's SHA-256 (a copy of Redis
gives nobody a usable cookie), the key's id and the session's CSRF token, and forgets both
when the session expires. The key itself is never stored: every request looks the key up by
its id, so a revoked key ends its sessions at once and a changed role applies at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.streams import PREFIX

SESSION_PREFIX = f"{PREFIX}:{{gateway}}:console:session:"
FLASH_PREFIX = f"{PREFIX}:{{gateway}}:console:flash:"
# The one page an action leads back to, not counted again against the key's budget: taken by
# the first page asked for after the action, whatever that page answers.
PAID_PAGE_PREFIX = f"{PREFIX}:{{gateway}}:console:paid-page:"
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 64  # token_urlsafe(32) is 43 characters: anything longer is not ours
FLASH_TTL_S = 120


@dataclass(frozen=True)
class ConsoleSession:
    key_id: str
    csrf: str  # the synchroniser token every form of this session carries
    digest: str  # the Redis name of the session (SHA-256 of its cookie token)

    def csrf_matches(self, given: str | None) -> bool:
        """The form's token is this session's (compared in constant time)."""
        return bool(given) and hmac.compare_digest(self.csrf.encode(), str(given).encode())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str | None) -> bool:
    return bool(token) and len(str(token)) <= MAX_TOKEN_CHARS and str(token).isascii()


class SessionStore:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def open(self, key_id: str) -> tuple[str, ConsoleSession]:
        """A new session for ``key_id``: its cookie token (shown once) and the session."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        session = ConsoleSession(key_id, secrets.token_urlsafe(TOKEN_BYTES), _digest(token))
        stored = json.dumps({"key_id": key_id, "csrf": session.csrf})
        await self.redis.set(SESSION_PREFIX + session.digest, stored, ex=self.ttl_s)
        return token, session

    async def find(self, token: str | None) -> ConsoleSession | None:
        if token is None or not well_formed(token):
            return None
        digest = _digest(token)
        raw = await self.redis.get(SESSION_PREFIX + digest)
        if raw is None:
            return None
        data = json.loads(raw)
        return ConsoleSession(str(data["key_id"]), str(data["csrf"]), digest)

    async def close(self, session: ConsoleSession) -> None:
        await self.redis.delete(
            SESSION_PREFIX + session.digest,
            FLASH_PREFIX + session.digest,
            PAID_PAGE_PREFIX + session.digest,
        )

    async def flash(self, session: ConsoleSession, level: str, text: str) -> None:
        """A message shown once, on the next page of this session (what an action did)."""
        message = json.dumps({"level": level, "text": text[:500]})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(FLASH_PREFIX + session.digest, message, ex=FLASH_TTL_S)
            pipe.set(PAID_PAGE_PREFIX + session.digest, "1", ex=FLASH_TTL_S)
            await pipe.execute()

    async def take_paid_page(self, session: ConsoleSession) -> bool:
        """Whether this page is the one an action leads back to (counted with the action),
        once: the next page, whether it shows or fails, is counted again."""
        return bool(await self.redis.delete(PAID_PAGE_PREFIX + session.digest))

    async def take_flash(self, session: ConsoleSession) -> dict[str, str] | None:
        raw = await self.redis.getdel(FLASH_PREFIX + session.digest)
        if raw is None:
            return None
        message: dict[str, str] = json.loads(raw)
        return message

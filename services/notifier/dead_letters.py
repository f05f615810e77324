"""Messages that could not be delivered, with the last error; replayed on request.

A replayed message keeps its id and goes back to its receiver's queue (the default receiver if
its own is no longer configured) in one transaction with its removal from the dead letters.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from services.notifier import redis_keys
from services.notifier.delivery.redaction import scrub
from services.notifier.outgoing import OutgoingMessage, queue_message
from shared.events import UtcDatetime, utcnow


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    entry_id: str
    message: OutgoingMessage
    error: str
    reason: str
    attempts: int
    failed_at: UtcDatetime

    def summary(self) -> dict[str, Any]:
        """What the API shows: everything but the rendered payload."""
        data = self.model_dump(mode="json", exclude={"message"})
        data["message"] = self.message.model_dump(mode="json", exclude={"payload"})
        return data


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DeadLetters:
    def __init__(self, redis: Redis, maxlen: int) -> None:
        self.redis = redis
        self.maxlen = maxlen

    def add(
        self, pipe: Any, message: OutgoingMessage, error: str, reason: str, attempts: int
    ) -> None:
        """Queue the dead letter on the caller's transaction."""
        pipe.xadd(
            redis_keys.DEAD_LETTER,
            {
                "data": message.model_dump_json(),
                "error": error,
                "reason": reason,
                "attempts": str(attempts),
                "failed_at": utcnow().isoformat(),
            },
            maxlen=self.maxlen,
            approximate=True,
        )

    @staticmethod
    def _parse(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
        return DeadLetter(
            entry_id=_text(entry_id),
            message=OutgoingMessage.model_validate_json(fields[b"data"]),
            error=scrub(_text(fields.get(b"error", b""))),  # also entries stored before scrubbing
            reason=_text(fields.get(b"reason", b"")),
            attempts=int(fields.get(b"attempts", b"0")),
            failed_at=_text(fields.get(b"failed_at", b"")) or utcnow(),
        )

    async def size(self) -> int:
        return int(await self.redis.xlen(redis_keys.DEAD_LETTER))

    async def recent(self, limit: int) -> list[DeadLetter]:
        rows = await self.redis.xrevrange(redis_keys.DEAD_LETTER, count=limit)
        return [self._parse(eid, fields) for eid, fields in rows]

    async def replay(
        self, entry_ids: list[str] | None, limit: int, receivers: set[str], default: str
    ) -> list[str]:
        """Move dead letters (the oldest ``limit``, or the ones named) back to their queues;
        the message ids replayed."""
        if entry_ids is None:
            rows = await self.redis.xrange(redis_keys.DEAD_LETTER, count=limit)
        else:
            rows = []
            for eid in entry_ids[:limit]:
                rows += await self.redis.xrange(redis_keys.DEAD_LETTER, min=eid, max=eid, count=1)
        replayed = []
        for raw_id, fields in rows:
            letter = self._parse(raw_id, fields)
            receiver = letter.message.receiver if letter.message.receiver in receivers else default
            message = letter.message.model_copy(
                update={"receiver": receiver, "replays": letter.message.replays + 1}
            )
            if await self.redis.transaction(
                lambda pipe, m=message, eid=letter.entry_id: self._move(pipe, m, eid),
                redis_keys.DEAD_LETTER,
                value_from_callable=True,
            ):
                replayed.append(message.message_id)
        return replayed

    @staticmethod
    async def _move(pipe: Any, message: OutgoingMessage, entry_id: str) -> bool:
        """Queue the message and drop its dead letter, unless a concurrent replay did."""
        if not await pipe.xrange(redis_keys.DEAD_LETTER, min=entry_id, max=entry_id, count=1):
            return False
        pipe.multi()
        queue_message(pipe, message)
        pipe.xdel(redis_keys.DEAD_LETTER, entry_id)
        pipe.delete(redis_keys.sent(message.message_id))
        return True

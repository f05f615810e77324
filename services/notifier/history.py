"""Recent deliveries (``GET /notifications``) and the local outbox, both capped lists in
Redis, newest first. Neither ever holds a webhook URL or a piece of one (``redaction``)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from redis.asyncio import Redis

from services.notifier import redis_keys
from services.notifier.core.alerts import MessageKind
from services.notifier.delivery.redaction import scrub
from services.notifier.outgoing import OutgoingMessage
from shared.events import UtcDatetime, utcnow


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    OUTBOX = "outbox"
    DEAD_LETTERED = "dead_lettered"


class DeliveryRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str
    receiver: str
    channel: str = Field(description="slack, webhook or outbox")
    kind: MessageKind
    status: DeliveryStatus
    attempts: int
    error: str | None = None
    text: str
    correlation_id: str
    source_event_ids: list[str]
    created_at: UtcDatetime
    finished_at: UtcDatetime = Field(default_factory=utcnow)

    @classmethod
    def of(
        cls,
        message: OutgoingMessage,
        channel: str,
        status: DeliveryStatus,
        attempts: int,
        error: str | None = None,
    ) -> DeliveryRecord:
        return cls(
            message_id=message.message_id,
            receiver=message.receiver,
            channel=channel,
            kind=message.kind,
            status=status,
            attempts=attempts,
            error=error,
            text=message.text,
            correlation_id=message.correlation_id,
            source_event_ids=message.source_event_ids,
            created_at=message.created_at,
        )


class History:
    def __init__(self, redis: Redis, size: int, outbox_size: int) -> None:
        self.redis = redis
        self.size = size
        self.outbox_size = outbox_size

    def record(self, pipe: Any, record: DeliveryRecord) -> None:
        """Queue the record on the caller's transaction."""
        pipe.lpush(redis_keys.DELIVERIES, record.model_dump_json())
        pipe.ltrim(redis_keys.DELIVERIES, 0, self.size - 1)

    def keep_in_outbox(self, pipe: Any, message: OutgoingMessage) -> None:
        item = {
            "message_id": message.message_id,
            "kind": message.kind.value,
            "channel": "outbox",
            "status": "outbox",
            "text": message.text,
            "correlation_id": message.correlation_id,
            "source_event_ids": message.source_event_ids,
            "created_at": message.created_at.isoformat(),
            **message.payload,
        }
        pipe.lpush(redis_keys.OUTBOX, json.dumps(item))
        pipe.ltrim(redis_keys.OUTBOX, 0, self.outbox_size - 1)

    async def recent(
        self, limit: int, status: DeliveryStatus | None = None, kind: MessageKind | None = None
    ) -> list[DeliveryRecord]:
        rows = await self.redis.lrange(redis_keys.DELIVERIES, 0, self.size - 1)
        found = []
        for row in rows:
            record = DeliveryRecord.model_validate_json(row)
            if record.error:  # also records stored before errors were scrubbed
                record = record.model_copy(update={"error": scrub(record.error)})
            if (status is None or record.status == status) and (
                kind is None or record.kind == kind
            ):
                found.append(record)
                if len(found) >= limit:
                    break
        return found

    async def outbox(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.redis.lrange(redis_keys.OUTBOX, 0, limit - 1)
        return [json.loads(r) for r in rows]

"""Rendered messages waiting for a receiver: one Redis stream per receiver, read through the
``delivery`` consumer group, so a message stays pending until the receiver accepted it (or it
was dead-lettered) and a crashed notifier's messages are taken over by the next one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.notifier import redis_keys
from services.notifier.core.alerts import MessageKind
from services.notifier.core.render import Rendered
from shared.events import Severity, UtcDatetime, utcnow

MESSAGE_NAMESPACE = uuid.UUID("0b6f3f8e-5d0c-4d43-9a59-6a1f0d9c8e21")


def message_id(*parts: str) -> str:
    """Stable for the same inputs: a message made twice (a redelivery, a retried flush) has one
    id, and its markers make the second a no-op."""
    return uuid.uuid5(MESSAGE_NAMESPACE, "\x1f".join(parts)).hex


class OutgoingMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str
    receiver: str
    kind: MessageKind
    text: str
    payload: dict[str, Any]
    correlation_id: str
    severity: Severity | None = None
    source_event_ids: list[str] = Field(default_factory=list)
    created_at: UtcDatetime = Field(default_factory=utcnow)
    replays: int = 0
    anomalies_observed_at: list[UtcDatetime] = Field(
        default_factory=list,
        description="Sample times of the anomalies it tells about first (end-to-end latency).",
    )

    @classmethod
    def of(cls, rendered: Rendered, receiver: str, mid: str) -> OutgoingMessage:
        return cls(
            message_id=mid,
            receiver=receiver,
            kind=rendered.kind,
            text=rendered.text,
            payload=rendered.payload,
            correlation_id=rendered.correlation_id,
            severity=rendered.severity,
            source_event_ids=rendered.source_event_ids,
            anomalies_observed_at=list(rendered.anomalies_observed_at),
        )

    def fields(self) -> dict[str, str]:
        return {"data": self.model_dump_json()}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> OutgoingMessage:
        return cls.model_validate_json(fields[b"data"])

    def age_s(self, now: datetime) -> float:
        return (now - self.created_at).total_seconds()


def queue_message(pipe: Any, message: OutgoingMessage) -> None:
    """Add ``message`` to its receiver's queue, inside the caller's transaction."""
    pipe.xadd(redis_keys.queue(message.receiver), message.fields())

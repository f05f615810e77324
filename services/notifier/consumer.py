"""The notifier's stream handler: render a remediation record and deliver it once.

The entry is acknowledged only after the webhook accepted the message. A ``sent`` marker per
source event skips redeliveries of what was already sent; a notifier killed between the send
and the marker sends that message again (at least once, never lost).
"""

from __future__ import annotations

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from services.notifier.delivery import WebhookSender
from services.notifier.outbox import Outbox
from services.notifier.render import render_record
from shared.bus import EventBus, StreamEntry
from shared.events import Notification, NotificationStatus, RemediationRecord
from shared.streams import NOTIFICATIONS, PREFIX

log = structlog.get_logger("notifier.consumer")

SENT = Counter("notifications_sent_total", "Messages delivered.", ["channel", "kind"])
SENT_TTL_S = 7 * 24 * 3600


def sent_key(event_id: str) -> str:
    return f"{PREFIX}:{{notifier}}:sent:{event_id}"


class RecordHandler:
    def __init__(
        self,
        redis: Redis,
        bus: EventBus,
        sender: WebhookSender,
        outbox: Outbox,
        webhook_url: str | None,
    ) -> None:
        self.redis = redis
        self.bus = bus
        self.sender = sender
        self.outbox = outbox
        self.webhook_url = webhook_url

    async def __call__(self, entry: StreamEntry) -> None:
        record = entry.event
        if not isinstance(record, RemediationRecord):
            return
        key = sent_key(str(record.event_id))
        if await self.redis.exists(key):
            log.info("duplicate_skipped", source_event_id=str(record.event_id))
            return
        message = render_record(record)
        if self.webhook_url:
            attempts = await self.sender.send(self.webhook_url, message.payload())
            channel, status = "slack", NotificationStatus.DELIVERED
        else:
            attempts = 1
            channel, status = "outbox", NotificationStatus.OUTBOX
        notification = Notification(
            correlation_id=record.correlation_id,
            source_event_id=record.event_id,
            kind=message.kind,
            channel=channel,
            status=status,
            text=message.text,
            attempts=attempts,
        )
        if channel == "outbox":
            await self.outbox.put(
                {**notification.model_dump(mode="json"), "blocks": message.blocks}
            )
        await self.redis.set(key, "1", ex=SENT_TTL_S)
        await self.bus.publish(NOTIFICATIONS, notification)
        SENT.labels(channel=channel, kind=message.kind).inc()
        log.info("notification_sent", channel=channel, attempts=attempts, kind=message.kind)

"""One receiver's delivery loop: read its queue through the ``delivery`` consumer group, hand
each message to the courier, then record the outcome and acknowledge the entry in one
transaction. An entry is acknowledged only once the receiver accepted the message (or it was
dead-lettered), so a notifier killed mid-send loses nothing: the next one takes the entry over
(XAUTOCLAIM) and sends it, possibly a second time.

While a message waits between tries, its entry is claimed again every few seconds so that no
other replica takes over a message that is still being worked on. The reading itself (group,
XREADGROUP, XAUTOCLAIM) is the one loop every consumer runs: ``shared.stream_group``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import replace

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.notifier import metrics, redis_keys
from services.notifier.dead_letters import DeadLetters
from services.notifier.delivery.courier import OUTBOX, Courier, Outcome
from services.notifier.delivery.redaction import scrub
from services.notifier.history import DeliveryRecord, DeliveryStatus, History
from services.notifier.outgoing import OutgoingMessage
from shared.bus import ConsumerOptions, EventBus
from shared.events import Notification, NotificationStatus, utcnow
from shared.metrics import PIPELINE_LATENCY
from shared.stream_group import GroupReader, RawEntry, ReaderOptions
from shared.streams import NOTIFICATIONS, dead_letter, dead_letter_record

log = structlog.get_logger("notifier.delivery")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: Names the event telling a delivery (one id per message and outcome).
NOTIFICATION_NAMESPACE = uuid.UUID("5f2b7c1e-8d4a-4e6b-9c3f-2a1d0e7b6c58")


class DeliveryWorker:
    def __init__(
        self,
        redis: Redis,
        courier: Courier,
        *,
        history: History,
        dead_letters: DeadLetters,
        bus: EventBus,
        consumer: str,
        options: ConsumerOptions,
    ) -> None:
        self.redis = redis
        self.courier = courier
        self.receiver = courier.receiver.name
        self.stream = redis_keys.queue(self.receiver)
        self.history = history
        self.dead_letters = dead_letters
        self.bus = bus
        self.consumer = consumer
        self.options = options
        self._stop = asyncio.Event()
        self._current: bytes | str | None = None
        self.reader = GroupReader(
            redis,
            streams=[self.stream],
            group=redis_keys.DELIVERY_GROUP,
            consumer=consumer,
            on_entry=self._on_entry,
            options=ReaderOptions(
                batch=options.batch,
                block_ms=options.block_ms,
                claim_idle_ms=options.claim_idle_ms,
                finish_batch_on_stop=False,  # a delivery may wait minutes: leave the rest
            ),
        )

    async def ensure_group(self) -> None:
        await self.reader.ensure_groups()
        await self.forget_delivered()

    async def forget_delivered(self) -> int:
        """Deletes the entries the group is done with: read, and older than any still pending.
        A delivered entry is deleted with its acknowledgement; these are the ones notifiers
        before that kept (the queue, and ``notifications_queued``, counted them for good)."""
        group = redis_keys.DELIVERY_GROUP
        infos = await self.redis.xinfo_groups(self.stream)
        read = next((i for i in infos if _text(i["name"]) == group), None)
        if read is None or _text(read["last-delivered-id"]) == "0-0":
            return 0
        pending = await self.redis.xpending(self.stream, group)
        if pending["pending"]:
            bound = _text(pending["min"])
        else:
            ms, seq = _text(read["last-delivered-id"]).split("-")
            bound = f"{ms}-{int(seq) + 1}"
        deleted: int = await self.redis.xtrim(self.stream, minid=bound, approximate=False)
        return deleted

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        await self.reader.run(stop)

    async def read_once(self) -> int:
        return await self.reader.read_once()

    async def reclaim(self) -> int:
        """Take over entries left pending by a notifier that died (or stalled)."""
        return await self.reader.reclaim()

    async def _on_entry(self, entry: RawEntry) -> bool:
        await self.handle(entry.entry_id, entry.fields)
        return False  # acknowledged by ``handle`` itself, with the outcome, in one transaction

    async def _set_aside(
        self, entry_id: bytes | str, fields: dict[bytes, bytes], reason: str
    ) -> None:
        """An entry no notifier can read leaves the queue for the queue's dead-letter stream
        (as an unreadable entry of any stream does), with the reason, in one transaction: kept
        for a person to read, never dropped, never retried."""
        source = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        record = dead_letter_record(fields, reason, source, redis_keys.DELIVERY_GROUP)
        aside = dead_letter(self.stream)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(aside, record, maxlen=self.dead_letters.maxlen, approximate=True)
            pipe.xack(self.stream, redis_keys.DELIVERY_GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()
        log.error("delivery_unreadable", receiver=self.receiver, error=reason[:300])

    async def handle(self, entry_id: bytes | str, fields: dict[bytes, bytes]) -> None:
        try:
            message = OutgoingMessage.from_fields(fields)
        except (KeyError, ValidationError) as exc:
            await self._set_aside(entry_id, fields, f"unreadable: {exc}"[:2000])
            return
        with structlog.contextvars.bound_contextvars(
            correlation_id=message.correlation_id, message_id=message.message_id
        ):
            if await self.redis.exists(redis_keys.sent(message.message_id)):
                log.info("delivery_duplicate_skipped", receiver=self.receiver)
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.xack(self.stream, redis_keys.DELIVERY_GROUP, entry_id)
                    pipe.xdel(self.stream, entry_id)
                    await pipe.execute()
                return
            self._current = entry_id
            try:
                outcome = await self.courier.deliver(message, self.pause)
            except (RedisError, OSError):
                raise  # stays pending; the loop waits for Redis
            except Exception as exc:
                log.exception("delivery_failed_unexpectedly", receiver=self.receiver)
                outcome = Outcome(
                    False,
                    self.courier.receiver.channel.value,
                    1,
                    f"internal error: {type(exc).__name__}",
                    "internal_error",
                )
            finally:
                self._current = None
            if outcome is None:
                log.info("delivery_interrupted", receiver=self.receiver, kind=message.kind.value)
                return  # stays pending: the next process sends it
            await self._finish(entry_id, message, outcome)

    async def _finish(
        self, entry_id: bytes | str, message: OutgoingMessage, outcome: Outcome
    ) -> None:
        if outcome.error:  # the last line of defence before history, dead letters and logs
            outcome = replace(outcome, error=scrub(outcome.error))
        if not outcome.delivered:
            status = DeliveryStatus.DEAD_LETTERED
        elif outcome.channel == OUTBOX:
            status = DeliveryStatus.OUTBOX
        else:
            status = DeliveryStatus.DELIVERED
        # Told to the rest of the system before the delivery is recorded and its entry
        # acknowledged: killed in between, the entry is taken again and the event written
        # again with the same id (the history keeps one); after, it could be lost.
        await self.bus.publish(NOTIFICATIONS, self._event(message, outcome, status))
        async with self.redis.pipeline(transaction=True) as pipe:
            if outcome.delivered:
                if status == DeliveryStatus.OUTBOX:
                    self.history.keep_in_outbox(pipe, message)
                pipe.set(redis_keys.sent(message.message_id), "1", ex=redis_keys.MARKER_TTL_S)
            else:
                self.dead_letters.add(
                    pipe, message, outcome.error or "", outcome.reason or "", outcome.attempts
                )
            record = DeliveryRecord.of(
                message, outcome.channel, status, outcome.attempts, outcome.error
            )
            self.history.record(pipe, record)
            # Done with: out of the queue, which holds only what waits (and what the
            # ``notifications_queued`` gauge counts); kept, it grew with every message.
            pipe.xack(self.stream, redis_keys.DELIVERY_GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()
        if outcome.delivered:
            metrics.SENT.labels(channel=outcome.channel, kind=message.kind.value).inc()
            accepted = utcnow()
            for observed in message.anomalies_observed_at:
                latency = (accepted - observed).total_seconds()
                PIPELINE_LATENCY.labels(stage="notified").observe(max(latency, 0.0))
            log.info(
                "notification_sent",
                receiver=self.receiver,
                channel=outcome.channel,
                kind=message.kind.value,
                attempts=outcome.attempts,
            )
        else:
            metrics.FAILED.labels(reason="dead_lettered").inc()
            metrics.DEAD_LETTER_SIZE.inc()
            log.error(
                "notification_dead_lettered",
                receiver=self.receiver,
                kind=message.kind.value,
                attempts=outcome.attempts,
                reason=outcome.reason,
                error=outcome.error,
            )

    @staticmethod
    def _event(message: OutgoingMessage, outcome: Outcome, status: DeliveryStatus) -> Notification:
        """What the rest of the system is told of a delivery; its id follows from the message,
        its outcome and how often it was replayed from the dead letters, so the same delivery
        told twice is one event, and a replayed message that fails again is a new one."""
        event_status = {
            DeliveryStatus.DELIVERED: NotificationStatus.DELIVERED,
            DeliveryStatus.OUTBOX: NotificationStatus.OUTBOX,
            DeliveryStatus.DEAD_LETTERED: NotificationStatus.FAILED,
        }[status]
        sources = [s for s in message.source_event_ids if _is_uuid(s)]
        life = f"\x1freplay {message.replays}" if message.replays else ""
        return Notification(
            event_id=uuid.uuid5(NOTIFICATION_NAMESPACE, f"{message.message_id}\x1f{status}{life}"),
            correlation_id=message.correlation_id,
            source_event_id=uuid.UUID(sources[0] if sources else message.message_id),
            source_event_ids=[uuid.UUID(s) for s in sources],
            message_id=message.message_id,
            receiver=message.receiver,
            kind=message.kind.value,
            channel=outcome.channel,
            status=event_status,
            text=message.text,
            attempts=outcome.attempts,
            error=outcome.error,
        )

    async def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, keeping the current entry claimed; False if stopping."""
        deadline = time.monotonic() + seconds
        step = max(self.options.claim_idle_ms / 3000, 0.05)
        while (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=min(left, step))
            if self._stop.is_set():
                return False
            await self._touch()
        return not self._stop.is_set()

    async def _touch(self) -> None:
        if self._current is None:
            return
        with contextlib.suppress(RedisError, OSError):
            await self.redis.xclaim(
                self.stream,
                redis_keys.DELIVERY_GROUP,
                self.consumer,
                min_idle_time=0,
                message_ids=[self._current],
                justid=True,
            )


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

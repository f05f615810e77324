"""The scheduler: lets due alert groups speak (their messages go to the receivers' queues)
and keeps the notifier's gauges current. Every replica may run one; a group's flush is a
transaction, so two schedulers never send the same group twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.notifier import metrics, redis_keys
from services.notifier.core.alerts import Alert, GroupMeta, MessageKind
from services.notifier.core.grouping import FlushPlan
from services.notifier.core.render import Channel, Links, render_flush
from services.notifier.core.routing import Subject
from services.notifier.core.silences import Silence, muted
from services.notifier.dead_letters import DeadLetters
from services.notifier.group_store import GroupStore
from services.notifier.outgoing import OutgoingMessage, message_id
from services.notifier.silence_store import SilenceStore

log = structlog.get_logger("notifier.scheduler")

GAUGES_EVERY_S = 5.0
RETRY_FAILED_FLUSH_S = 60.0


class Composer:
    """Renders a flush for the group's receiver (the default one if its own is gone)."""

    def __init__(self, channels: dict[str, Channel], default_receiver: str, links: Links) -> None:
        self.channels = channels
        self.default_receiver = default_receiver
        self.links = links

    def __call__(self, plan: FlushPlan, meta: GroupMeta) -> list[OutgoingMessage]:
        receiver = meta.receiver if meta.receiver in self.channels else self.default_receiver
        rendered = render_flush(plan, meta, self.channels[receiver], self.links)
        # A group's id comes from its labels and its sequence restarts when it opens again
        # after it ended; the moment it opened tells its lives apart, or the next life's
        # messages would carry the ids of the last one's and be skipped as already delivered.
        life = repr(meta.created_at)
        messages = [
            OutgoingMessage.of(
                r, receiver, message_id(meta.group_id, life, str(meta.sequence), r.kind.value)
            )
            for r in rendered
        ]
        if plan.spoke_at is None:
            return messages
        # Made at the moment the group spoke, which the group interval is counted from.
        spoke = datetime.fromtimestamp(plan.spoke_at, UTC)
        return [m.model_copy(update={"created_at": spoke}) for m in messages]


def _silencer(silences: list[Silence], moment: datetime) -> Callable[[Alert], bool]:
    def silenced(alert: Alert) -> bool:
        kind = MessageKind.ANOMALY if alert.firing else MessageKind.RESOLVED
        subject = Subject(
            kind=kind,
            severity=alert.severity,
            resource_id=alert.resource_id,
            metric=alert.metric,
            labels=alert.labels,
        )
        return muted(silences, subject, moment)

    return silenced


class Scheduler:
    def __init__(
        self,
        redis: Redis,
        groups: GroupStore,
        silences: SilenceStore,
        dead_letters: DeadLetters,
        composer: Composer,
        *,
        tick_s: float = 0.2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.groups = groups
        self.silences = silences
        self.dead_letters = dead_letters
        self.composer = composer
        self.tick_s = tick_s
        self.clock = clock
        self._gauges_at = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("scheduler_redis_error", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick_s)

    async def tick(self) -> int:
        """Flush every due group; how many messages were queued."""
        now = self.clock()
        queued = 0
        due = await self.groups.due(now)
        if due:
            moment = datetime.fromtimestamp(now, UTC)
            silenced = _silencer(await self.silences.active(moment), moment)
            for gid in due:
                try:
                    messages = await self.groups.flush(gid, now, self.composer, silenced)
                except (RedisError, OSError):
                    raise
                except Exception:
                    # A group that cannot be rendered must not stop the others: look again later.
                    log.exception("group_flush_failed", group_id=gid)
                    await self.redis.zadd(redis_keys.GROUPS_DUE, {gid: now + RETRY_FAILED_FLUSH_S})
                    continue
                for message in messages:
                    with structlog.contextvars.bound_contextvars(
                        correlation_id=message.correlation_id
                    ):
                        log.info(
                            "group_message_queued",
                            group_id=gid,
                            receiver=message.receiver,
                            kind=message.kind.value,
                            message_id=message.message_id,
                        )
                queued += len(messages)
        if time.monotonic() - self._gauges_at >= GAUGES_EVERY_S:
            self._gauges_at = time.monotonic()
            await self.update_gauges()
        return queued

    async def update_gauges(self) -> None:
        metrics.DEAD_LETTER_SIZE.set(await self.dead_letters.size())
        metrics.GROUPS.set(await self.groups.count())
        for receiver in self.composer.channels:
            length = await self.redis.xlen(redis_keys.queue(receiver))
            metrics.QUEUED.labels(receiver=receiver).set(length)

"""The notifier's stream handler: anomalies, resolutions and remediation records in, alert
groups and queued messages out.

Anomalies and resolutions go into alert groups (the scheduler decides when a group speaks).
A remediation decision is folded into its anomaly's first message when that message has not
gone yet; otherwise approval requests and action results become messages of their own,
queued once per record and receiver (a redelivered record queues nothing new). The stream
entry is acknowledged (by the bus) once this durable hand-over is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from redis.asyncio import Redis

from services.notifier import metrics, redis_keys
from services.notifier.core.alerts import Decision, MessageKind
from services.notifier.core.render import Channel, Links, record_kind, render_record
from services.notifier.core.render.slack_remediation import decision_summary
from services.notifier.core.routing import Router, Subject
from services.notifier.core.silences import muted
from services.notifier.group_store import GroupStore
from services.notifier.outgoing import OutgoingMessage, message_id, queue_message
from services.notifier.silence_store import SilenceStore
from shared.bus import StreamEntry
from shared.events import AnomalyEvent, AnomalyResolved, RemediationRecord, RemediationStatus

log = structlog.get_logger("notifier.intake")

# Steps that another record always follows: nothing to fold, nothing to say.
TRANSIENT = frozenset(
    {RemediationStatus.PROPOSED, RemediationStatus.APPROVED, RemediationStatus.RUNNING}
)


class Intake:
    def __init__(
        self,
        redis: Redis,
        router: Router,
        groups: GroupStore,
        silences: SilenceStore,
        channels: dict[str, Channel],
        *,
        alert_ttl_s: float,
        links: Links | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.router = router
        self.groups = groups
        self.silences = silences
        self.links = links or Links()
        self.channels = channels
        self.alert_ttl_s = alert_ttl_s
        self.clock = clock

    async def __call__(self, entry: StreamEntry) -> None:
        event = entry.event
        if isinstance(event, AnomalyEvent):
            await self.on_anomaly(event)
        elif isinstance(event, AnomalyResolved):
            await self.on_resolved(event)
        elif isinstance(event, RemediationRecord):
            await self.on_record(event)

    def _now(self) -> tuple[float, datetime]:
        now = self.clock()
        return now, datetime.fromtimestamp(now, UTC)

    async def on_anomaly(self, event: AnomalyEvent) -> None:
        now, moment = self._now()
        if now - event.occurred_at.timestamp() > self.alert_ttl_s:
            _suppressed("stale", resource_id=event.resource_id)
            return
        subject = Subject(
            kind=MessageKind.ANOMALY,
            severity=event.severity,
            resource_id=event.resource_id,
            metric=event.metric,
            labels=event.labels,
        )
        targets = self.router.targets(subject)
        if not targets:
            _suppressed("dropped_by_route", resource_id=event.resource_id)
            return
        if muted(await self.silences.active(moment), subject, moment):
            _suppressed("silenced", resource_id=event.resource_id)
            return
        news = [await self.groups.add_anomaly(t, event, now) for t in targets]
        log.info(
            "anomaly_grouped",
            resource_id=event.resource_id,
            metric=event.metric,
            severity=event.severity.value,
            receivers=[t.receiver for t in targets],
            news=any(news),
        )

    async def on_resolved(self, event: AnomalyResolved) -> None:
        now, _ = self._now()
        if await self.groups.resolve(event, now) == 0:
            _suppressed("unknown_alert", resource_id=event.resource_id)
            return
        log.info("anomaly_resolution_grouped", resource_id=event.resource_id, metric=event.metric)

    async def on_record(self, record: RemediationRecord) -> None:
        now, moment = self._now()
        lapsed = record.expires_at is not None and record.expires_at <= moment
        if now - record.occurred_at.timestamp() > self.alert_ttl_s or (
            record.status == RemediationStatus.PENDING_APPROVAL and lapsed
        ):
            _suppressed("stale", status=record.status.value)
            return
        if record.shadow or record.status in TRANSIENT:
            _suppressed("not_notified", status=record.status.value)
            return
        decision = Decision(
            status=record.status, summary=decision_summary(record), event_id=str(record.event_id)
        )
        kind = record_kind(record)
        folded = await self.groups.fold_decision(
            record.resource_id, record.metric, decision, told_there=kind != MessageKind.APPROVAL
        )
        if kind is None:
            _suppressed("folded" if folded else "not_notified", status=record.status.value)
            return
        subject = Subject(
            kind=kind,
            severity=record.severity,
            resource_id=record.resource_id,
            metric=record.metric,
        )
        targets = [
            t
            for t in self.router.targets(subject)
            if kind == MessageKind.APPROVAL or t.receiver not in folded
        ]
        if not targets:
            reason = "folded" if folded else "dropped_by_route"
            _suppressed(reason, status=record.status.value)
            return
        if muted(await self.silences.active(moment), subject, moment):
            _suppressed("silenced", resource_id=record.resource_id)
            return
        queued = 0
        for target in targets:
            channel = self.channels.get(target.receiver, Channel.SLACK)
            rendered = render_record(record, kind, channel, self.links)
            message = OutgoingMessage.of(
                rendered, target.receiver, message_id(str(record.event_id), target.receiver)
            )
            queued += await self.queue_once(message)
        log.info(
            "remediation_record_queued",
            kind=kind.value,
            status=record.status.value,
            receivers=[t.receiver for t in targets],
            queued=queued,
            folded_into=sorted(folded),
        )

    async def queue_once(self, message: OutgoingMessage) -> bool:
        marker = redis_keys.enqueued(message.message_id)

        async def body(pipe: object) -> bool:
            if await pipe.exists(marker):  # type: ignore[attr-defined]
                return False
            pipe.multi()  # type: ignore[attr-defined]
            pipe.set(marker, "1", ex=redis_keys.MARKER_TTL_S)  # type: ignore[attr-defined]
            queue_message(pipe, message)
            return True

        queued: bool = await self.redis.transaction(body, marker, value_from_callable=True)
        return queued


def _suppressed(reason: str, **context: str) -> None:
    metrics.SUPPRESSED.labels(reason=reason).inc()
    log.info("event_not_notified", reason=reason, **context)

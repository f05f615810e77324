"""Alert groups in Redis: what arrived, what was told, when each group speaks next.

Every change is one optimistic transaction (WATCH the group, read, decide with the pure rules
of :mod:`core.grouping`, write), so replicas and the scheduler never step on each other, and a
flush queues its messages in the same transaction that records them as told: a crash either
keeps both or neither. The state lives in Redis, so a restarted notifier carries on where it
stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis

from services.notifier import redis_keys
from services.notifier.core.alerts import Alert, Decision, GroupMeta, fingerprint
from services.notifier.core.grouping import (
    FlushPlan,
    apply_anomaly,
    apply_decision,
    apply_resolution,
    open_group,
    plan_flush,
    schedule_change,
)
from services.notifier.core.routing import Target
from services.notifier.errors import GroupNotFoundError
from services.notifier.outgoing import OutgoingMessage, message_id, queue_message
from shared.events import AnomalyEvent, AnomalyResolved

META = "meta"
Compose = Callable[[FlushPlan, GroupMeta], list[OutgoingMessage]]


def _field(fp: str) -> str:
    return f"a:{fp}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class GroupStore:
    def __init__(self, redis: Redis, alert_ttl_s: float) -> None:
        self.redis = redis
        self.alert_ttl_s = alert_ttl_s

    async def add_anomaly(self, target: Target, event: AnomalyEvent, now: float) -> bool:
        """Put the event's alert in the target's group; True if it deserves a message."""
        key = redis_keys.group(target.group_id)
        fp = fingerprint(event.resource_id, event.metric)

        async def body(pipe: Any) -> bool:
            raw_meta, raw_alert = await pipe.hmget(key, META, _field(fp))
            if raw_meta is None:
                meta = open_group(
                    target.group_id, target.receiver, target.group_labels, target.timing, now
                )
            else:
                meta = GroupMeta.model_validate_json(raw_meta)
                meta = meta.model_copy(update={"timing": target.timing})
            alert = Alert.model_validate_json(raw_alert) if raw_alert is not None else None
            updated, news = apply_anomaly(alert, event)
            if raw_meta is not None and updated == alert:
                return False
            if news:
                meta = schedule_change(meta, now)
            pipe.multi()
            pipe.hset(
                key, mapping={META: meta.model_dump_json(), _field(fp): updated.model_dump_json()}
            )
            if meta.next_flush_at is not None:
                pipe.zadd(redis_keys.GROUPS_DUE, {target.group_id: meta.next_flush_at})
            pipe.sadd(redis_keys.alert_groups(fp), target.group_id)
            return news

        changed: bool = await self.redis.transaction(body, key, value_from_callable=True)
        return changed

    async def _groups_of(self, fp: str) -> list[str]:
        return sorted(_text(g) for g in await self.redis.smembers(redis_keys.alert_groups(fp)))

    async def fold_decision(
        self, resource_id: str, metric: str, decision: Decision, *, told_there: bool = True
    ) -> set[str]:
        """Attach the decision to the alert wherever it was not told yet; the receivers where
        it was attached. ``told_there``: the decision's own message is not sent to a receiver
        it was attached for, and that is recorded in the same step (its "queued" marker), so a
        redelivered record, meeting an alert told since, does not send it separately."""
        fp = fingerprint(resource_id, metric)
        receivers: set[str] = set()
        for gid in await self._groups_of(fp):
            key = redis_keys.group(gid)

            async def body(pipe: Any, key: str = key) -> str | None:
                raw_meta, raw_alert = await pipe.hmget(key, META, _field(fp))
                if raw_meta is None or raw_alert is None:
                    return None
                updated = apply_decision(Alert.model_validate_json(raw_alert), decision)
                if updated is None:
                    return None
                receiver = GroupMeta.model_validate_json(raw_meta).receiver
                pipe.multi()
                pipe.hset(key, _field(fp), updated.model_dump_json())
                if told_there:
                    told = redis_keys.enqueued(message_id(decision.event_id, receiver))
                    pipe.set(told, "1", ex=redis_keys.MARKER_TTL_S)
                return receiver

            receiver = await self.redis.transaction(body, key, value_from_callable=True)
            if receiver is not None:
                receivers.add(receiver)
        return receivers

    async def resolve(self, event: AnomalyResolved, now: float) -> int:
        """Mark the alert resolved in every group holding it; how many groups did."""
        fp = fingerprint(event.resource_id, event.metric)
        touched = 0
        for gid in await self._groups_of(fp):
            key = redis_keys.group(gid)

            async def body(pipe: Any, key: str = key, gid: str = gid) -> bool:
                raw_meta, raw_alert = await pipe.hmget(key, META, _field(fp))
                if raw_meta is None or raw_alert is None:
                    return False
                updated, news = apply_resolution(Alert.model_validate_json(raw_alert), event)
                if not news:
                    return False
                meta = schedule_change(GroupMeta.model_validate_json(raw_meta), now)
                pipe.multi()
                pipe.hset(
                    key,
                    mapping={META: meta.model_dump_json(), _field(fp): updated.model_dump_json()},
                )
                if meta.next_flush_at is not None:
                    pipe.zadd(redis_keys.GROUPS_DUE, {gid: meta.next_flush_at})
                return True

            touched += bool(await self.redis.transaction(body, key, value_from_callable=True))
        return touched

    async def acknowledge(
        self,
        by: str,
        *,
        resource_id: str | None = None,
        metric: str | None = None,
        group_id: str | None = None,
    ) -> int:
        """Stop repeats of one alert (every group holding it) or of a whole group."""
        if group_id is not None:
            if not await self.redis.exists(redis_keys.group(group_id)):
                raise GroupNotFoundError(group_id)
            targets: list[tuple[str, str | None]] = [(group_id, None)]
        else:
            assert resource_id is not None and metric is not None
            fp = fingerprint(resource_id, metric)
            targets = [(gid, fp) for gid in await self._groups_of(fp)]
        count = 0
        for gid, only in targets:
            key = redis_keys.group(gid)

            async def body(pipe: Any, key: str = key, only: str | None = only) -> int:
                rows = await pipe.hgetall(key)
                changed = {}
                for name, raw in rows.items():
                    field = _text(name)
                    if field == META or (only is not None and field != _field(only)):
                        continue
                    alert = Alert.model_validate_json(raw)
                    if alert.firing and alert.acknowledged_by is None:
                        changed[field] = alert.model_copy(
                            update={"acknowledged_by": by}
                        ).model_dump_json()
                if changed:
                    pipe.multi()
                    pipe.hset(key, mapping=changed)
                return len(changed)

            count += await self.redis.transaction(body, key, value_from_callable=True)
        return count

    async def due(self, now: float, limit: int = 100) -> list[str]:
        rows = await self.redis.zrangebyscore(
            redis_keys.GROUPS_DUE, "-inf", now, start=0, num=limit
        )
        return [_text(r) for r in rows]

    async def flush(
        self,
        gid: str,
        now: float,
        compose: Compose,
        silenced: Callable[[Alert], bool],
    ) -> list[OutgoingMessage]:
        """Let one due group speak: its messages are queued in the same transaction that
        records what was told."""
        key = redis_keys.group(gid)

        async def body(pipe: Any) -> list[OutgoingMessage]:
            rows = {_text(k): v for k, v in (await pipe.hgetall(key)).items()}
            if META not in rows:
                pipe.multi()
                pipe.zrem(redis_keys.GROUPS_DUE, gid)
                return []
            meta = GroupMeta.model_validate_json(rows.pop(META))
            if meta.next_flush_at is not None and meta.next_flush_at > now:
                pipe.multi()  # flushed meanwhile by another replica: fix the index
                pipe.zadd(redis_keys.GROUPS_DUE, {gid: meta.next_flush_at})
                return []
            alerts = {f.removeprefix("a:"): Alert.model_validate_json(v) for f, v in rows.items()}
            plan = plan_flush(meta, alerts, now, silenced=silenced, alert_ttl_s=self.alert_ttl_s)
            messages = compose(plan, meta) if plan.speaks else []
            pipe.multi()
            for message in messages:
                queue_message(pipe, message)
            if plan.meta is None:
                pipe.delete(key)
                pipe.zrem(redis_keys.GROUPS_DUE, gid)
                for fp in alerts:
                    pipe.srem(redis_keys.alert_groups(fp), gid)
                return messages
            for fp in plan.delete:
                pipe.hdel(key, _field(fp))
                pipe.srem(redis_keys.alert_groups(fp), gid)
            fields = {_field(fp): a.model_dump_json() for fp, a in plan.write.items()}
            pipe.hset(key, mapping={META: plan.meta.model_dump_json(), **fields})
            if plan.meta.next_flush_at is not None:
                pipe.zadd(redis_keys.GROUPS_DUE, {gid: plan.meta.next_flush_at})
            return messages

        messages: list[OutgoingMessage] = await self.redis.transaction(
            body, key, value_from_callable=True
        )
        return messages

    async def summary(self, limit: int = 200) -> list[dict[str, Any]]:
        """The groups held, soonest first (for ``GET /notifications/groups``)."""
        rows = await self.redis.zrange(redis_keys.GROUPS_DUE, 0, limit - 1, withscores=True)
        out = []
        for raw_gid, _score in rows:
            gid = _text(raw_gid)
            raw_meta = await self.redis.hget(redis_keys.group(gid), META)
            if raw_meta is None:
                continue
            meta = GroupMeta.model_validate_json(raw_meta)
            size = await self.redis.hlen(redis_keys.group(gid))
            out.append({**meta.model_dump(mode="json"), "alerts": max(size - 1, 0)})
        return out

    async def count(self) -> int:
        return int(await self.redis.zcard(redis_keys.GROUPS_DUE))

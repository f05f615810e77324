"""Anomalies sent to the workers whose decision is not recorded yet, debounced rules waiting for
their re-check, people's requests queued (``POST /remediation/execute``) whose decision is not
recorded yet, and approved actions a worker has started and not yet run or settled, so that none
waits out the broker's visibility timeout (an hour) when the worker holding its task dies whole:
a person's request would then run an hour after it was asked, an approved action not at all.

A worker killed outright (its parent process too: kill -9, the OOM killer) takes with it the
tasks it had reserved and not started, the re-checks it holds until their countdown ends, and
the approved action it had taken out of the approved index (:mod:`.approvals`) and not yet
reserved a run for. Their messages stay in the broker's unacknowledged set until the visibility
timeout, and nothing else points at them. So:

- the API's dispatcher notes each anomaly it queues, when and with its event
  (:func:`note_sent`: a ZADD and an HSET per read, in one transaction before the tasks go to
  the broker); a worker notes a debounced rule's re-check, due when its countdown ends
  (:func:`recheck_commands`), in the round trip that writes the rule's ``proposed`` record and
  makes its claim wait, ahead of them; the API notes a person's request, with the request,
  before queueing it (:meth:`DispatchedAnomalies.note_request`: its incident's id is the
  request's own); a worker notes an approved action, with the request, in the atomic step that
  takes it out of the approved index (:func:`request_entry`, under the approval's own id);
- the first record of the decision forgets it (:func:`forget_commands`, sent with the record's
  own commands: a record names its anomaly and its rule; a debounced rule's ``proposed`` record
  forgets the anomaly, not the re-check it waits for); so does a delivery that finds the decision
  taken already. An approved action's records name its anomaly, not its approval: the worker
  forgets it once its task has settled it;
- the API's sweep sends again the ones due longer than the stall time ago
  (:meth:`DispatchedAnomalies.take_stalled`), moving their time to now in the same atomic step,
  so no other replica sends them too. Not those sent after the task waiting longest in the
  queue (:meth:`DispatchedAnomalies.oldest_queued_ms`): the queue is first in, first out, so
  they may still be waiting there (a backlog, or no worker running), not lost. The task
  carries the same id and arguments: a delivery finding the claim done skips, one finding a
  live lease waits, one finding a lapsed lease takes the dead attempt's claim over
  (:mod:`.claims`).

One still undecided long after it was first due (``give_up_s``) is dropped with a log line
rather than sent again forever; the broker's own redelivery still comes after the visibility
timeout.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
from redis.asyncio import Redis as AsyncRedis

from services.remediator.core.action_requests import ActionRequest
from services.remediator.stores import redis_keys
from services.remediator.stores.packed_calls import Arg, pack
from shared.events import AnomalyEvent, RemediationRecord, RemediationStatus

# KEYS: 1 dispatched zset, 2 events hash. ARGV: 1 due at or before (ms), 2 now (ms), 3 most.
# {member, value, member, value ...} of the entries due, their time moved to now; an entry
# without a value (decided meanwhile) is removed.
TAKE_STALLED = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local taken = {}
for _, member in ipairs(due) do
  local value = redis.call('HGET', KEYS[2], member)
  if value then
    redis.call('ZADD', KEYS[1], ARGV[2], member)
    taken[#taken + 1] = member
    taken[#taken + 1] = value
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return taken
"""


ANOMALY_TASK_PREFIX = "anomaly-"  # an anomaly's task id is this and its event id
REQUEST_MARK = b"request:"  # before a request in an entry's value (else an anomaly)
DEBOUNCE_WAIT = "debounce"  # what a debounced rule's waiting ``proposed`` record is blocked by


def member(anomaly_id: uuid.UUID, rule: str | None = None) -> str:
    """The entry of an anomaly's decision, or of ``rule``'s re-check of it."""
    return f"{anomaly_id}:{rule}" if rule else str(anomaly_id)


@dataclass(frozen=True)
class Stalled:
    sent: AnomalyEvent | ActionRequest  # an anomaly, or a person's request
    rule: str | None  # the debounced rule to re-check; None: the anomaly's decision
    first_due_ms: int  # when it was first sent (or, a re-check, due)

    @property
    def subject(self) -> uuid.UUID:
        """The anomaly's id, or the request's (its incident's)."""
        if isinstance(self.sent, ActionRequest):
            return self.sent.subject_id
        return self.sent.event_id

    @property
    def correlation_id(self) -> str:
        if isinstance(self.sent, ActionRequest):
            return self.sent.incident.correlation_id
        return self.sent.correlation_id

    @property
    def member(self) -> str:
        return member(self.subject, self.rule)


def note_commands(events: Sequence[AnomalyEvent], now_ms: int) -> list[list[Arg]]:
    """The commands noting ``events`` as sent at ``now_ms``."""
    if not events:
        return []
    ids = [str(event.event_id) for event in events]
    scored: list[Arg] = [part for anomaly_id in ids for part in (now_ms, anomaly_id)]
    fields: list[Arg] = [
        part
        for anomaly_id, event in zip(ids, events, strict=True)
        for part in (anomaly_id, _value(event, now_ms))
    ]
    return [
        ["ZADD", redis_keys.DISPATCHED, *scored],
        ["HSET", redis_keys.DISPATCHED_EVENTS, *fields],
    ]


async def note_sent(client: AsyncRedis, events: Sequence[AnomalyEvent], now_ms: int) -> None:
    """Notes ``events`` as sent at ``now_ms``, in one transaction packed by hiredis in one call
    (the client's pipeline costs 7 µs more per anomaly to pack the same commands)."""
    commands: list[list[Arg]] = [["MULTI"], *note_commands(events, now_ms), ["EXEC"]]
    packed = b"".join([pack(command) for command in commands])
    pool = client.connection_pool
    conn = await pool.get_connection()
    try:
        await conn.send_packed_command(packed)
        replies = [await conn.read_response() for _ in commands]
    except BaseException:  # a reply may be pending: never reuse the connection as it is
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)
    for reply in replies[-1] or []:  # EXEC's: a command's error is in its place
        if isinstance(reply, Exception):
            raise reply


def forget_commands(records: Iterable[RemediationRecord]) -> list[list[Arg]]:
    """The commands forgetting what ``records`` decide: their anomalies, and the re-checks of
    their rules (a shadow rule's record decides nothing; a debounced rule's ``proposed`` record
    decides the anomaly, and its rule's re-check is what it waits for)."""
    members: list[Arg] = list(
        dict.fromkeys(
            entry for record in records if not record.shadow for entry in _decided_by(record)
        )
    )
    if not members:
        return []
    return [
        ["ZREM", redis_keys.DISPATCHED, *members],
        ["HDEL", redis_keys.DISPATCHED_EVENTS, *members],
    ]


def _decided_by(record: RemediationRecord) -> tuple[str, ...]:
    anomaly = member(record.anomaly_id)
    waiting = record.status == RemediationStatus.PROPOSED and record.blocked_by == DEBOUNCE_WAIT
    return (anomaly,) if waiting else (anomaly, member(record.anomaly_id, record.rule))


def recheck_commands(anomaly: AnomalyEvent, rule: str, due_ms: int) -> list[list[Arg]]:
    """The commands noting ``rule``'s re-check of ``anomaly``, due at ``due_ms`` (noted before
    it is sent: the sweep sends it again if no record follows)."""
    entry = member(anomaly.event_id, rule)
    return [
        ["ZADD", redis_keys.DISPATCHED, due_ms, entry],
        ["HSET", redis_keys.DISPATCHED_EVENTS, entry, _value(anomaly, due_ms)],
    ]


def request_entry(request: ActionRequest, now_ms: int) -> tuple[str, bytes]:
    """The entry of a person's request or an approved action (its subject: the request's own
    incident, or the approval) and its value, sent at ``now_ms``."""
    value = f"{now_ms} ".encode() + REQUEST_MARK + request.model_dump_json().encode()
    return member(request.subject_id), value


def _value(event: AnomalyEvent, first_due_ms: int) -> str:
    return f"{first_due_ms} {event.model_dump_json()}"


class DispatchedAnomalies:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._take_stalled = client.register_script(TAKE_STALLED)

    def oldest_queued_ms(self, queue: str) -> int | None:
        """When the task that has waited longest in ``queue`` (the next one taken) was sent,
        if it is an anomaly's noted here: everything sent before it has left the queue."""
        raw = self.redis.lindex(queue, -1)
        if raw is None:
            return None
        try:
            task_id = json.loads(raw)["headers"]["id"]
        except (ValueError, KeyError, TypeError):  # not a Celery task message
            return None
        if not isinstance(task_id, str) or not task_id.startswith(ANOMALY_TASK_PREFIX):
            return None
        anomaly_id = task_id.removeprefix(ANOMALY_TASK_PREFIX)
        sent_ms = self.redis.zscore(redis_keys.DISPATCHED, anomaly_id)
        return None if sent_ms is None else int(sent_ms)

    def note_request(self, request: ActionRequest, now_ms: int) -> None:
        """A person's request, about to be queued at ``now_ms``: its first record forgets it
        (records name the request's incident), else the sweep sends it again."""
        entry, value = request_entry(request, now_ms)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(redis_keys.DISPATCHED, {entry: now_ms})
            pipe.hset(redis_keys.DISPATCHED_EVENTS, entry, value)
            pipe.execute()

    def forget(self, members: Iterable[str]) -> None:
        entries = list(members)
        if not entries:
            return
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(redis_keys.DISPATCHED, *entries)
            pipe.hdel(redis_keys.DISPATCHED_EVENTS, *entries)
            pipe.execute()

    def take_stalled(self, due_before_ms: int, now_ms: int, most: int) -> list[Stalled]:
        """Up to ``most`` entries due at or before ``due_before_ms`` and still undecided, marked
        sent at ``now_ms`` (the caller sends them). One that no longer reads is forgotten."""
        raw = self._take_stalled(
            keys=[redis_keys.DISPATCHED, redis_keys.DISPATCHED_EVENTS],
            args=[due_before_ms, now_ms, most],
        )
        stalled: list[Stalled] = []
        unreadable: list[str] = []
        for entry, value in zip(raw[::2], raw[1::2], strict=True):
            _anomaly_id, _, rule = entry.decode().partition(":")
            first_due, _, text = value.partition(b" ")
            try:
                sent: AnomalyEvent | ActionRequest
                if text.startswith(REQUEST_MARK):
                    sent = ActionRequest.model_validate_json(text[len(REQUEST_MARK) :])
                else:
                    sent = AnomalyEvent.model_validate_json(text)
                stalled.append(Stalled(sent, rule or None, int(first_due)))
            except ValueError:  # only after an incompatible change of the event
                unreadable.append(entry.decode())
        self.forget(unreadable)
        return stalled

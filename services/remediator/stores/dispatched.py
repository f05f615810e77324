"""Anomalies sent to the workers whose decision is not recorded yet, so that none waits out the
broker's visibility timeout (an hour) when the worker holding its task dies whole.

A worker killed outright (its parent process too: kill -9, the OOM killer) takes with it the
tasks it had reserved and not started. Their messages stay in the broker's unacknowledged set
until the visibility timeout, and no claim of theirs exists for the sweep to take over. So:

- the API's dispatcher notes each anomaly it queues, when and with its event
  (:func:`note_commands`: a ZADD and an HSET per read, in one transaction before the tasks go
  to the broker);
- the first record of its decision forgets it (:func:`forget_commands`, sent with the record's
  own commands); so does a delivery that finds the decision taken already;
- the API's sweep sends again the ones noted longer than the stall time ago
  (:meth:`DispatchedAnomalies.take_stalled`), moving their time to now in the same atomic step,
  so no other replica sends them too. The task carries the same id and arguments: a delivery
  finding the claim done skips, one finding a live lease waits, one finding a lapsed lease takes
  the dead attempt's claim over (:mod:`.claims`).

An anomaly undecided long after it occurred (``give_up_s``) is dropped with a log line rather
than sent again forever; the broker's own redelivery still comes after the visibility timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import redis

from services.remediator.stores import redis_keys
from services.remediator.stores.packed_calls import Arg
from shared.events import AnomalyEvent

# KEYS: 1 dispatched zset, 2 events hash. ARGV: 1 sent at or before (ms), 2 now (ms), 3 most.
# {id, event, id, event ...} of the anomalies due, their time moved to now; an entry without an
# event (decided meanwhile) is removed.
TAKE_STALLED = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local taken = {}
for _, id in ipairs(due) do
  local event = redis.call('HGET', KEYS[2], id)
  if event then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    taken[#taken + 1] = id
    taken[#taken + 1] = event
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return taken
"""


def note_commands(events: Sequence[AnomalyEvent], now_ms: int) -> list[list[Arg]]:
    """The commands noting ``events`` as sent at ``now_ms``."""
    if not events:
        return []
    ids = [str(event.event_id) for event in events]
    scored: list[Arg] = [part for anomaly_id in ids for part in (now_ms, anomaly_id)]
    fields: list[Arg] = [
        part
        for anomaly_id, event in zip(ids, events, strict=True)
        for part in (anomaly_id, event.model_dump_json())
    ]
    return [
        ["ZADD", redis_keys.DISPATCHED, *scored],
        ["HSET", redis_keys.DISPATCHED_EVENTS, *fields],
    ]


def forget_commands(anomaly_ids: Iterable[uuid.UUID]) -> list[list[Arg]]:
    """The commands forgetting ``anomaly_ids`` (their decisions are recorded)."""
    ids: list[Arg] = [str(anomaly_id) for anomaly_id in anomaly_ids]
    if not ids:
        return []
    return [["ZREM", redis_keys.DISPATCHED, *ids], ["HDEL", redis_keys.DISPATCHED_EVENTS, *ids]]


class DispatchedAnomalies:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._take_stalled = client.register_script(TAKE_STALLED)

    def forget(self, anomaly_ids: Iterable[uuid.UUID]) -> None:
        commands = forget_commands(anomaly_ids)
        if not commands:
            return
        with self.redis.pipeline(transaction=True) as pipe:
            for command in commands:
                pipe.execute_command(*command)
            pipe.execute()

    def take_stalled(self, sent_before_ms: int, now_ms: int, most: int) -> list[AnomalyEvent]:
        """Up to ``most`` anomalies sent at or before ``sent_before_ms`` and still undecided,
        marked sent at ``now_ms`` (the caller sends them). An event that no longer reads is
        forgotten."""
        raw = self._take_stalled(
            keys=[redis_keys.DISPATCHED, redis_keys.DISPATCHED_EVENTS],
            args=[sent_before_ms, now_ms, most],
        )
        events: list[AnomalyEvent] = []
        unreadable: list[uuid.UUID] = []
        for anomaly_id, text in zip(raw[::2], raw[1::2], strict=True):
            try:
                events.append(AnomalyEvent.model_validate_json(text))
            except ValueError:  # only after an incompatible change of the event
                unreadable.append(uuid.UUID(anomaly_id.decode()))
        self.forget(unreadable)
        return events

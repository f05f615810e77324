"""Pending approvals in Redis, each decided exactly once.

An approval holds the action request that waits for it. Approve, reject, expire and withdraw
are one atomic step each (a Lua script), so two people clicking at once, or a click racing the
expiry sweep, produce one decision. An approval needing M people becomes ``approved`` at the
M-th distinct person: approvers are counted by their canonical identity (``people``: a Slack
team and user id, or a key owner, as the gateway establishes them), never by the name shown,
which a person may change or hold several of. Each approval and the rejection is kept as a vote
(who, the person, the channel, when, the comment), in the same step that counts it, so the
records name every approver, not only the one who completed the count; approvals stored before
votes were kept show their approvers with what was stored (names, people). Whoever makes a
transition records it; a transition happens once. A request is withdrawn when the decision
that asked for it was interrupted before it was recorded (:mod:`.gate`); it can then no longer
be approved or rejected.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from pydantic import BaseModel, ConfigDict

from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import (
    AnotherApproverNeededError,
    ApprovalAlreadyExpiredError,
    ApprovalConflictError,
    ApprovalError,
    ApprovalExpiredError,
    ApprovalNotFoundError,
)
from services.remediator.stores import redis_keys
from services.remediator.stores.dispatched import request_entry
from shared.events import ApprovalVote

# KEYS: 1 approval hash, 2 pending zset, 3 approved-unclaimed zset
# ARGV: 1 decision (approve|reject|expire|withdraw), 2 who (shown), 3 now ms or "",
#       4 the person (canonical identity: what "distinct approvers" compares),
#       5 the channel (api_key, slack, chatops, console, or ""), 6 the comment
DECIDE = """
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not_found'} end
local id = redis.call('HGET', KEYS[1], 'id')
if state ~= 'pending' then return {'conflict', state} end
if ARGV[1] == 'withdraw' then
  redis.call('HSET', KEYS[1], 'state', 'withdrawn', 'decided_at_ms', now)
  redis.call('ZREM', KEYS[2], id)
  return {'withdrawn'}
end
local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_at_ms'))
if now >= expires then
  redis.call('HSET', KEYS[1], 'state', 'expired', 'decided_at_ms', now)
  redis.call('ZREM', KEYS[2], id)
  return {'expired'}
end
if ARGV[1] == 'expire' then return {'not_due'} end
-- approvals stored before votes were kept have none
local votes = cjson.decode(redis.call('HGET', KEYS[1], 'votes') or '[]')
local vote = {by = ARGV[2], person = ARGV[4], via = ARGV[5], at_ms = now, comment = ARGV[6]}
if ARGV[1] == 'reject' then
  vote.decision = 'rejected'
  table.insert(votes, vote)
  redis.call('HSET', KEYS[1], 'state', 'rejected', 'decided_by', ARGV[2], 'decided_at_ms', now,
             'votes', cjson.encode(votes))
  redis.call('ZREM', KEYS[2], id)
  return {'rejected'}
end
if ARGV[4] == '' then return {'no_person'} end
if ARGV[4] == redis.call('HGET', KEYS[1], 'requester') then return {'requester'} end
local approvers = cjson.decode(redis.call('HGET', KEYS[1], 'approvers'))
-- approvals stored before people were counted compare what they stored
local people = cjson.decode(redis.call('HGET', KEYS[1], 'people') or cjson.encode(approvers))
for i, person in ipairs(people) do
  if person == ARGV[4] then return {'same_person', approvers[i] or person} end
end
table.insert(approvers, ARGV[2])
table.insert(people, ARGV[4])
vote.decision = 'approved'
table.insert(votes, vote)
redis.call('HSET', KEYS[1], 'approvers', cjson.encode(approvers), 'people', cjson.encode(people),
           'votes', cjson.encode(votes))
local required = tonumber(redis.call('HGET', KEYS[1], 'required'))
if #approvers < required then
  return {'partial', tostring(#approvers), tostring(required)}
end
redis.call('HSET', KEYS[1], 'state', 'approved', 'decided_by', table.concat(approvers, ', '),
           'decided_at_ms', now)
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[3], now, id)
return {'approved'}
"""

# Whether an approved action not started yet may still start, in one step with taking it out of
# (or keeping it in) the approved-unclaimed index, so that exactly one caller records a lapse:
# the sweep (its task was lost) or the worker (its task came too late). A worker that may start
# it notes it among the dispatched in the same step (:mod:`.dispatched`): from here until its
# run is reserved, a worker killed whole would leave it in neither index, never run nor told.
# KEYS: 1 approved-unclaimed zset, 2 approval hash, 3 dispatched zset, 4 dispatched values.
# ARGV: 1 approval id, 2 start within (ms), 3 the sweep's re-send bound (ms), or "" for a worker,
#       4 a worker's dispatched entry, 5 its time (ms), 6 its value.
# Replies: start (the worker may run it), resend (the sweep sends it again), wait (not due),
# lapsed (too late: the caller records it), settled (too late, recorded by another caller),
# gone (the approval is no longer kept: its entry is dropped).
START = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worker = ARGV[3] == ''
local listed = redis.call('ZSCORE', KEYS[1], ARGV[1])
local decided = tonumber(redis.call('HGET', KEYS[2], 'decided_at_ms') or '')
local function start()
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
  redis.call('HSET', KEYS[4], ARGV[4], ARGV[6])
  return 'start'
end
if not listed then
  if not worker then return 'wait' end
  if not decided then return 'settled' end
  if now < decided + tonumber(ARGV[2]) then return start() end
  -- an attempt that took it out of the index died before starting it: too late now
  if redis.call('HGET', KEYS[2], 'lapsed') == '1' then return 'settled' end
  redis.call('HSET', KEYS[2], 'lapsed', '1')
  return 'lapsed'
end
if not decided then
  redis.call('ZREM', KEYS[1], ARGV[1])
  if worker then return 'lapsed' end
  return 'gone'
end
if now >= decided + tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HSET', KEYS[2], 'lapsed', '1')  -- what a record owed for it says (owed())
  return 'lapsed'
end
if worker then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return start()
end
if tonumber(listed) > now - tonumber(ARGV[3]) then return 'wait' end
redis.call('ZADD', KEYS[1], now, ARGV[1])
return 'resend'
"""


class Approval(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    state: str  # pending, approved, rejected, expired, withdrawn
    required: int
    approvers: list[str]  # as shown: names, which may change
    people: list[str] = []  # who they are (canonical identities): what M-of-N counts
    votes: list[ApprovalVote] = []  # each approval and the rejection, oldest first
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    why: str
    request: ActionRequest


@dataclass(frozen=True)
class Decision:
    approval: Approval
    complete: bool  # False: more approvers are needed


class ApprovalStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_s: float,
        keep_s: float = 7 * 86400,
        start_within_s: float = 3600.0,
    ) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self.keep_s = keep_s
        self.start_within_s = start_within_s
        self._decide = client.register_script(DECIDE)
        self._start = client.register_script(START)

    def create(
        self, request: ActionRequest, *, required: int, why: str, approval_id: str | None = None
    ) -> Approval:
        approval_id = approval_id or uuid.uuid4().hex
        now_ms = _server_ms(self.redis)
        expires_ms = now_ms + int(self.ttl_s * 1000)
        stored = {
            "id": approval_id,
            "state": "pending",
            "required": required,
            "approvers": "[]",
            "people": "[]",
            "votes": "[]",
            "created_at_ms": now_ms,
            "expires_at_ms": expires_ms,
            "why": why,
            "request": request.model_dump_json(),
            # The person who asked (a manual request) never counts as one of its approvers.
            "requester": request.requested_by or "",
        }
        key = redis_keys.approval(approval_id)
        if self.redis.exists(key):  # ids derive from the request: asked once, kept as asked
            return self.get(approval_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=stored)
            pipe.pexpire(key, int((self.ttl_s + self.keep_s) * 1000))
            pipe.zadd(redis_keys.PENDING_APPROVALS, {approval_id: expires_ms})
            pipe.execute()
        return self.get(approval_id)

    def get(self, approval_id: str) -> Approval:
        raw = self.redis.hgetall(redis_keys.approval(approval_id))
        if not raw:
            raise ApprovalNotFoundError(approval_id, f"no approval {approval_id!r}")
        data = {k.decode(): v.decode() for k, v in raw.items()}
        approvers = json.loads(data["approvers"]) or []
        people = json.loads(data.get("people", "[]")) or []
        return Approval(
            id=data["id"],
            state=data["state"],
            required=int(data["required"]),
            approvers=approvers,
            people=people,
            votes=_votes(data.get("votes", "[]"), approvers, people),
            created_at=_time(data["created_at_ms"]),
            expires_at=_time(data["expires_at_ms"]),
            decided_at=_time(data["decided_at_ms"]) if "decided_at_ms" in data else None,
            decided_by=data.get("decided_by"),
            why=data["why"],
            request=ActionRequest.model_validate_json(data["request"]),
        )

    def approve(
        self,
        approval_id: str,
        who: str,
        person: str,
        now_ms: int | None = None,
        *,
        via: str | None = None,
        comment: str = "",
    ) -> Decision:
        """``who``: the name shown; ``person``: the identity counted (two approvals by one
        person, under whatever names, are one); ``via``: the channel it came through."""
        reply = self._transition(approval_id, "approve", who, now_ms, person, via, comment)
        if reply[0] == "no_person":
            raise ValueError("an approval needs the approving person's identity")
        if reply[0] == "requester":
            raise AnotherApproverNeededError(
                approval_id,
                f"{who} asked for this action and cannot also approve it; another person must",
            )
        if reply[0] == "same_person":
            earlier = reply[1]
            also = "" if earlier == who else f" (as {earlier})"
            raise AnotherApproverNeededError(
                approval_id,
                f"{who} has already approved{also}; another person must approve",
            )
        return Decision(self.get(approval_id), complete=reply[0] == "approved")

    def reject(
        self,
        approval_id: str,
        who: str,
        now_ms: int | None = None,
        *,
        person: str = "",
        via: str | None = None,
        comment: str = "",
    ) -> Approval:
        self._transition(approval_id, "reject", who, now_ms, person, via, comment)
        return self.get(approval_id)

    def expire(self, approval_id: str, now_ms: int | None = None) -> Approval | None:
        """The expired approval when this call expired it; None when it was not due or
        someone else decided it first."""
        try:
            self._transition(approval_id, "expire", "", now_ms)
        except ApprovalExpiredError as exc:
            return exc.approval if isinstance(exc.approval, Approval) else None
        except (ApprovalConflictError, ApprovalNotFoundError):
            return None
        return None

    def withdraw(self, approval_id: str) -> str:
        """Withdraws a pending approval: ``withdrawn``, else ``not_found`` or the state it
        already has (approved, rejected, expired, withdrawn)."""
        raw = self._decide(
            keys=[
                redis_keys.approval(approval_id),
                redis_keys.PENDING_APPROVALS,
                redis_keys.APPROVED_UNCLAIMED,
            ],
            args=["withdraw", "", "", "", "", ""],
        )
        reply = [r.decode() if isinstance(r, bytes) else str(r) for r in raw]
        return reply[1] if reply[0] == "conflict" else reply[0]

    def _transition(
        self,
        approval_id: str,
        decision: str,
        who: str,
        now_ms: int | None,
        person: str = "",
        via: str | None = None,
        comment: str = "",
    ) -> list[str]:
        raw = self._decide(
            keys=[
                redis_keys.approval(approval_id),
                redis_keys.PENDING_APPROVALS,
                redis_keys.APPROVED_UNCLAIMED,
            ],
            args=[decision, who, "" if now_ms is None else now_ms, person, via or "", comment],
        )
        reply = [r.decode() if isinstance(r, bytes) else str(r) for r in raw]
        if reply[0] == "not_found":
            raise ApprovalNotFoundError(approval_id, f"no approval {approval_id!r}")
        if reply[0] == "conflict" and reply[1] == "withdrawn":
            raise ApprovalConflictError(
                approval_id,
                f"approval {approval_id} was withdrawn: the decision that asked for it was "
                "interrupted before it was recorded; nothing will run",
            )
        if reply[0] == "conflict" and reply[1] == "expired":
            expired_at = self.get(approval_id).expires_at.isoformat()
            raise ApprovalAlreadyExpiredError(
                approval_id, f"approval {approval_id} is already expired (at {expired_at})"
            )
        if reply[0] == "conflict":
            raise ApprovalConflictError(
                approval_id, f"approval {approval_id} is already {reply[1]}"
            )
        if reply[0] == "expired":
            approval = self.get(approval_id)
            expired_at = approval.expires_at.isoformat()
            raise ApprovalExpiredError(
                approval_id, f"approval {approval_id} expired at {expired_at}", approval
            )
        return reply

    def due(self, now_ms: int | None = None, limit: int = 100) -> list[str]:
        """Pending approvals past their expiry."""
        now_ms = _server_ms(self.redis) if now_ms is None else now_ms
        ids = self.redis.zrangebyscore(
            redis_keys.PENDING_APPROVALS, "-inf", now_ms, start=0, num=limit
        )
        return [i.decode() for i in ids]

    def pending(self, limit: int = 100) -> list[Approval]:
        ids = self.redis.zrange(redis_keys.PENDING_APPROVALS, 0, limit - 1)
        found = []
        for raw in ids:
            try:
                found.append(self.get(raw.decode()))
            except ApprovalNotFoundError:
                continue
        return found

    def count_pending(self) -> int:
        return int(self.redis.zcard(redis_keys.PENDING_APPROVALS))

    def approved_unclaimed(self, older_than_ms: int) -> list[str]:
        """Approved approvals whose execution has not started after ``older_than_ms``."""
        cutoff = _server_ms(self.redis) - older_than_ms
        return [
            i.decode() for i in self.redis.zrangebyscore(redis_keys.APPROVED_UNCLAIMED, 0, cutoff)
        ]

    def mark_claimed(self, approval_id: str) -> None:
        self.redis.zrem(redis_keys.APPROVED_UNCLAIMED, approval_id)

    # -- records owed: a decision taken, its record not yet written -------------------------

    @contextmanager
    def owing(self, approval_id: str, what: str) -> Iterator[None]:
        """A note, around a decision on ``approval_id`` and its record (``what``: ``decide``
        or ``lapse``), that the record is owed: removed once the block ends, or when the
        decision is refused (nothing is owed then); kept when anything else stops it, for the
        sweep to write the record (:meth:`owed`)."""
        note = f"{approval_id}|{what}|{uuid.uuid4().hex[:12]}"
        self.redis.zadd(redis_keys.APPROVAL_RECORDS_OWED, {note: _server_ms(self.redis)})
        try:
            yield
        except ApprovalError:
            self.settle(note)
            raise
        self.settle(note)

    def settle(self, note: str) -> None:
        self.redis.zrem(redis_keys.APPROVAL_RECORDS_OWED, note)

    def lapsed(self, approval_id: str) -> bool:
        """Whether the approved action was found past its start deadline (never started)."""
        return bool(self.redis.hget(redis_keys.approval(approval_id), "lapsed") == b"1")

    def owed(self, older_than_ms: int, limit: int = 100) -> list[tuple[str, str, str]]:
        """Notes older than ``older_than_ms``: (note, approval id, what), oldest first."""
        cutoff = _server_ms(self.redis) - older_than_ms
        raw = self.redis.zrangebyscore(
            redis_keys.APPROVAL_RECORDS_OWED, "-inf", cutoff, start=0, num=limit
        )
        notes = []
        for item in raw:
            note = item.decode()
            approval_id, _, rest = note.partition("|")
            notes.append((note, approval_id, rest.partition("|")[0]))
        return notes

    def start(self, request: ActionRequest) -> str:
        """A worker is about to start the approved action ``request``: ``start`` while within
        ``start_within_s`` of its approval (it leaves the approved index and is noted among the
        dispatched, for the sweep to send again should this worker die before its run is
        reserved), else ``lapsed`` (this worker records it; its approval may be gone) or
        ``settled`` (the sweep, or an earlier attempt, did)."""
        assert request.approval_id is not None
        now_ms = int(time.time() * 1000)
        entry, value = request_entry(request, now_ms)
        return self._started(request.approval_id, "", (entry, now_ms, value))

    def take_due(self, approval_id: str, resend_after_ms: int) -> str:
        """The sweep's step for an approved action not started: ``resend`` (marked sent now:
        no other replica sends it within ``resend_after_ms``), ``wait``, ``lapsed`` (past
        ``start_within_s``: out of the index, for this caller to record) or ``gone`` (its
        approval is no longer kept: out of the index)."""
        return self._started(approval_id, str(resend_after_ms), ("", 0, b""))

    def _started(self, approval_id: str, resend_after: str, noted: tuple[str, int, bytes]) -> str:
        """``noted``: a worker's dispatched entry, its time and its value (unused by the sweep)."""
        entry, noted_ms, value = noted
        reply = self._start(
            keys=[
                redis_keys.APPROVED_UNCLAIMED,
                redis_keys.approval(approval_id),
                redis_keys.DISPATCHED,
                redis_keys.DISPATCHED_EVENTS,
            ],
            args=[
                approval_id,
                int(self.start_within_s * 1000),
                resend_after,
                entry,
                noted_ms,
                value,
            ],
        )
        return reply.decode() if isinstance(reply, bytes) else str(reply)


def _votes(stored: str, approvers: list[str], people: list[str]) -> list[ApprovalVote]:
    """Each approval in the order it was counted, then the rejection. An approval given
    where votes were not kept (before they were, or by an older remediator meanwhile) has
    its name and person, but no time or channel."""
    kept = [
        ApprovalVote(
            decision=v["decision"],
            by=v["by"],
            person=v.get("person") or None,
            via=v.get("via") or None,
            at=_time(v["at_ms"]),
            comment=v.get("comment", ""),
        )
        for v in json.loads(stored) or []  # an empty Lua table is encoded as {}
    ]
    given = {(v.person or v.by): v for v in kept if v.decision == "approved"}
    votes = []
    for i, name in enumerate(approvers):
        person = people[i] if i < len(people) else None
        found = given.get(person or name)
        votes.append(found if found is not None else ApprovalVote(by=name, person=person))
    return votes + [v for v in kept if v.decision == "rejected"]


def _time(ms: str | int) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, UTC)


def _server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000

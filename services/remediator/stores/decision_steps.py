"""A live decision's two Redis steps, each one Lua script: one command and one reply each, where
a transaction or a pipeline of a dozen commands cost the worker more to send and read than the
decision itself.

1. :data:`NOTE_AND_READ`, before the rules engine runs: notes the anomaly among its resource's
   recent ones (:mod:`.recent`) and reads what the engine needs: the other recent anomalies, the
   published rules version (:mod:`.rules`) and the rules in shadow mode (:mod:`.auto_shadow`).
2. :data:`CLAIM_AND_PEEK`, once the request is built: acquires the claim on subject x action
   (:data:`.claims.ACQUIRE`), reads the target's escalation flags (:mod:`.escalations`) and
   peeks the safety checks (:data:`.safety_scripts.CHECK_AND_RESERVE` in ``peek`` mode), in
   one atomic step. The claim and the peek are the stores' own Lua source, wrapped in
   functions, so they cannot drift from what the stores run alone; the peek changes nothing,
   and the runner still takes the atomic reservation before anything runs.

Most anomalies find their resource with no other recent anomaly, the rules version and the
rules in shadow mode unchanged since the worker's last decision. :data:`NOTE_CLAIM_AND_PEEK`
takes both steps in one script for a request the worker built on that guess: it notes and reads
as step 1, and only when what it read is what the guess assumed does it go on with step 2; else
it answers what it read, claiming nothing, and the decision is taken again from there.

Every key is in the ``{remediation}`` slot (:mod:`.redis_keys`), so both stay atomic on a
cluster.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import redis

from services.remediator.stores import redis_keys
from services.remediator.stores.claims import ACQUIRE, Claim, Claims
from services.remediator.stores.packed_calls import PackedCalls
from services.remediator.stores.recent import WINDOW_S
from services.remediator.stores.safety import SafetyManager, SafetyRequest, SafetyVerdict
from services.remediator.stores.safety_scripts import CHECK_AND_RESERVE
from shared.events import AnomalyEvent

# KEYS: 1 the resource's recent zset, 2 the published rules hash, 3 the auto-shadow hash
# ARGV: 1 metric, 2 observed ms, 3 window ms
# The metric's score becomes the later of its score and this observation; entries older than
# two windows go. Returns {metrics within the window, rules version or nil, shadowed rules}.
NOTE_AND_READ = """
local at, window = tonumber(ARGV[2]), tonumber(ARGV[3])
local seen = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not seen) or tonumber(seen) < at then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', at - 2 * window)
redis.call('PEXPIRE', KEYS[1], 2 * window)
return {redis.call('ZRANGEBYSCORE', KEYS[1], at - window, '+inf'),
        redis.call('HGET', KEYS[2], 'version'),
        redis.call('HKEYS', KEYS[3])}
"""

# KEYS: 1 claim, 2 lease, then f escalation flags, then the safety check's keys
# ARGV: 1-4 the claim's (token, claim ttl s, lease ms, resume waiting), 5 f, then the safety
#       check's arguments (mode peek)
# Returns {claim state, {flag values}, the check's verdict}.
CLAIM_AND_PEEK = f"""
local function acquire(KEYS, ARGV)
{ACQUIRE}
end
local function check(KEYS, ARGV)
{CHECK_AND_RESERVE}
end
local f = tonumber(ARGV[5])
local state = acquire({{KEYS[1], KEYS[2]}}, {{ARGV[1], ARGV[2], ARGV[3], ARGV[4]}})
local flags = {{}}
if f > 0 then flags = redis.call('MGET', unpack(KEYS, 3, 2 + f)) end
local check_keys, check_args = {{}}, {{}}
for i = 3 + f, #KEYS do check_keys[#check_keys + 1] = KEYS[i] end
for i = 6, #ARGV do check_args[#check_args + 1] = ARGV[i] end
return {{state, flags, check(check_keys, check_args)}}
"""


# KEYS: 1-3 NOTE_AND_READ's, then CLAIM_AND_PEEK's
# ARGV: 1-3 NOTE_AND_READ's, 4 the rules version assumed, 5 n, then the n rules in shadow mode
#       assumed, then CLAIM_AND_PEEK's arguments
# Returns {1, CLAIM_AND_PEEK's reply} when the resource has no other recent anomaly and the
# version and rules in shadow mode are the assumed ones; else {0, NOTE_AND_READ's reply}.
NOTE_CLAIM_AND_PEEK = f"""
local function note_and_read(KEYS, ARGV)
{NOTE_AND_READ}
end
local function claim_and_peek(KEYS, ARGV)
{CLAIM_AND_PEEK}
end
local read = note_and_read({{KEYS[1], KEYS[2], KEYS[3]}}, {{ARGV[1], ARGV[2], ARGV[3]}})
local n = tonumber(ARGV[5])
local same = read[2] == ARGV[4] and #read[3] == n
for _, metric in ipairs(read[1]) do
  if metric ~= ARGV[1] then same = false end
end
if same then
  local assumed = {{}}
  for i = 6, 5 + n do assumed[ARGV[i]] = true end
  for _, name in ipairs(read[3]) do
    if not assumed[name] then same = false end
  end
end
if not same then return {{0, read}} end
local keys, args = {{}}, {{}}
for i = 4, #KEYS do keys[#keys + 1] = KEYS[i] end
for i = 6 + n, #ARGV do args[#args + 1] = ARGV[i] end
return {{1, claim_and_peek(keys, args)}}
"""


@dataclass(frozen=True)
class Noted:
    """What :meth:`DecisionSteps.note_and_read` read."""

    recent: frozenset[str]  # the resource's other anomalous metrics within the window
    rules_version: bytes | None  # the published rules' version (None: nothing published)
    shadowed: frozenset[str]  # rules switched to shadow mode


@dataclass(frozen=True)
class Peeked:
    """What :meth:`DecisionSteps.claim_and_peek` answered."""

    claim: Claim
    flags: list[bytes | None]  # the escalation flags' values, in the order asked
    verdict: SafetyVerdict


class DecisionSteps:
    def __init__(self, client: redis.Redis, *, recent_window_s: float = WINDOW_S) -> None:
        self.window_ms = int(recent_window_s * 1000)
        self.calls = PackedCalls(client)
        self._note_and_read = client.register_script(NOTE_AND_READ)
        self._claim_and_peek = client.register_script(CLAIM_AND_PEEK)
        self._note_claim_and_peek = client.register_script(NOTE_CLAIM_AND_PEEK)

    def note_and_read(self, anomaly: AnomalyEvent) -> Noted:
        keys, args = self._note_call(anomaly)
        return _noted(self.calls.script(self._note_and_read, keys, args), anomaly)

    def _note_call(self, anomaly: AnomalyEvent) -> tuple[list[str], list[str | int]]:
        at = int(anomaly.observed_at.timestamp() * 1000)
        keys = [
            redis_keys.recent(anomaly.resource_id),
            redis_keys.RULES_ACTIVE,
            redis_keys.AUTO_SHADOW,
        ]
        return keys, [anomaly.metric, at, self.window_ms]

    def note_claim_and_peek(
        self,
        anomaly: AnomalyEvent,
        assumed: Noted,
        claims: Claims,
        subject: uuid.UUID,
        action: str | None,
        flags: list[str],
        safety: SafetyManager,
        checks: SafetyRequest,
    ) -> Peeked | Noted:
        """:meth:`note_and_read` then, if it read what ``assumed`` says (no other recent
        anomaly, the same rules version and rules in shadow mode), :meth:`claim_and_peek`, in
        one atomic step. Answers the peek, or what was read (nothing claimed). Raises
        ``ClaimBusyError`` as :meth:`claim_and_peek`."""
        if assumed.rules_version is None or assumed.recent:
            raise ValueError("assume a published rules version and no other recent anomaly")
        note_keys, note_args = self._note_call(anomaly)
        claim_keys, claim_args, claimed = claims.acquire_call(subject, action)
        check_keys, check_args, verdict = safety.peek_call(checks)
        same, reply = self.calls.script(
            self._note_claim_and_peek,
            [*note_keys, *claim_keys, *flags, *check_keys],
            [
                *note_args,
                assumed.rules_version,
                len(assumed.shadowed),
                *assumed.shadowed,
                *claim_args,
                len(flags),
                *check_args,
            ],
        )
        if not same:
            return _noted(reply, anomaly)
        state, values, peeked = reply
        claim = claimed(state)  # first: a busy claim raises before anything else is read
        return Peeked(claim, _flag_values(values, len(flags)), verdict(peeked))

    def claim_and_peek(
        self,
        claims: Claims,
        subject: uuid.UUID,
        action: str | None,
        flags: list[str],
        safety: SafetyManager,
        checks: SafetyRequest,
    ) -> Peeked:
        """Raises ``ClaimBusyError`` while another attempt holds the claim's lease (as
        :meth:`Claims.acquire`)."""
        claim_keys, claim_args, claimed = claims.acquire_call(subject, action)
        check_keys, check_args, verdict = safety.peek_call(checks)
        state, values, peeked = self.calls.script(
            self._claim_and_peek,
            [*claim_keys, *flags, *check_keys],
            [*claim_args, len(flags), *check_args],
        )
        claim = claimed(state)  # first: a busy claim raises before anything else is read
        return Peeked(claim, _flag_values(values, len(flags)), verdict(peeked))


def _noted(reply: Any, anomaly: AnomalyEvent) -> Noted:
    recent, version, shadowed = reply
    return Noted(
        frozenset(m.decode() for m in recent) - {anomaly.metric},
        version,
        frozenset(name.decode() for name in shadowed),
    )


def _flag_values(values: Any, count: int) -> list[bytes | None]:
    # A Lua table ends at its first nil: trailing flags that are not set are not in the reply.
    found: list[bytes | None] = [v if isinstance(v, bytes) else None for v in values or []]
    return found + [None] * (count - len(found))

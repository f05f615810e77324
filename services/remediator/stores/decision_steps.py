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

    def note_and_read(self, anomaly: AnomalyEvent) -> Noted:
        at = int(anomaly.observed_at.timestamp() * 1000)
        recent, version, shadowed = self.calls.script(
            self._note_and_read,
            [
                redis_keys.recent(anomaly.resource_id),
                redis_keys.RULES_ACTIVE,
                redis_keys.AUTO_SHADOW,
            ],
            [anomaly.metric, at, self.window_ms],
        )
        return Noted(
            frozenset(m.decode() for m in recent) - {anomaly.metric},
            version,
            frozenset(name.decode() for name in shadowed),
        )

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


def _flag_values(values: Any, count: int) -> list[bytes | None]:
    # A Lua table ends at its first nil: trailing flags that are not set are not in the reply.
    found: list[bytes | None] = [v if isinstance(v, bytes) else None for v in values or []]
    return found + [None] * (count - len(found))

"""Idempotency claims: one decision per subject (anomaly, approval, request) x action, however
often its task is delivered.

A claim is ``started`` while an attempt works, ``waiting`` while a debounced rule waits for its
re-check, ``done`` once the outcome is recorded. A started attempt holds a short lease, renewed
while it works. Another delivery that finds the claim:

- ``done``: skips (the outcome is recorded);
- ``started`` with a live lease: another attempt is at work, try later (:class:`ClaimBusyError`);
- ``started`` with the lease gone: that attempt died; the first delivery to notice takes the
  claim over (atomically) and finds out from the run state what happened, never running the
  action a second time.
"""

from __future__ import annotations

import enum
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
import structlog

from services.remediator import keys

log = structlog.get_logger("remediator.claims")

CLAIM_STARTED = b"started"
CLAIM_WAITING = b"waiting"
CLAIM_DONE = b"done"

# KEYS: 1 claim, 2 lease. ARGV: 1 token, 2 claim ttl s, 3 lease ms, 4 resume waiting ("1"/"0")
ACQUIRE = """
local state = redis.call('GET', KEYS[1])
if (not state) or (state == 'waiting' and ARGV[4] == '1') then
  redis.call('SET', KEYS[1], 'started', 'EX', ARGV[2])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
  return 'acquired'
end
if state ~= 'started' then return state end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'busy' end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 'abandoned'
"""

# KEYS: 1 lease. ARGV: 1 token, 2 lease ms. Renews only the holder's lease.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class ClaimBusyError(Exception):
    """Another attempt holds the lease on this subject x action; try again after it."""


class ClaimState(enum.Enum):
    ACQUIRED = "acquired"  # this attempt decides
    ABANDONED = "abandoned"  # an earlier attempt died mid-way; this one took the claim over
    WAITING = "waiting"  # a debounced rule waits for its re-check
    DONE = "done"


@dataclass
class Claim:
    key: str
    token: str
    state: ClaimState
    claims: Claims

    def finish(self) -> None:
        self.claims.set(self, CLAIM_DONE)

    def wait(self) -> None:
        self.claims.set(self, CLAIM_WAITING)

    @contextmanager
    def kept_alive(self) -> Iterator[None]:
        """Renews the lease in the background while a long step runs (an action)."""
        stop = threading.Event()
        period = max(self.claims.lease_ms / 3000, 0.05)

        def renew() -> None:
            while not stop.wait(period):
                try:
                    self.claims.renew(self)
                except redis.RedisError as exc:  # the next renewal may succeed
                    log.warning("lease_renewal_failed", claim=self.key, error=str(exc))

        thread = threading.Thread(target=renew, name=f"lease:{self.key}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)


class Claims:
    def __init__(self, client: redis.Redis, *, ttl_s: int, lease_s: float) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self.lease_ms = int(lease_s * 1000)
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)

    def acquire(
        self, subject: uuid.UUID, action: str | None, *, resume_waiting: bool = False
    ) -> Claim:
        """Raises :class:`ClaimBusyError` while another attempt holds the lease."""
        key = keys.claim(subject, action)
        token = uuid.uuid4().hex
        reply = self._acquire(
            keys=[key, keys.lease(key)],
            args=[token, self.ttl_s, self.lease_ms, "1" if resume_waiting else "0"],
        )
        state = reply.decode() if isinstance(reply, bytes) else str(reply)
        if state == "busy":
            raise ClaimBusyError(key)
        return Claim(key, token, ClaimState(state), self)

    def set(self, claim: Claim, value: bytes) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(claim.key, value, ex=self.ttl_s)
            pipe.delete(keys.lease(claim.key))
            pipe.execute()

    def renew(self, claim: Claim) -> bool:
        return bool(self._renew(keys=[keys.lease(claim.key)], args=[claim.token, self.lease_ms]))

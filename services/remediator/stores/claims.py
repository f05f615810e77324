"""Idempotency claims: one decision per subject (anomaly, approval, request) x action, however
often its task is delivered.

A claim is ``started`` while an attempt works, ``waiting`` while a debounced rule waits for its
re-check, ``done`` once the outcome is recorded. A started attempt holds a short lease, renewed
while it works. Another delivery that finds the claim:

- ``done``: skips (the outcome is recorded);
- ``started`` with a live lease: another attempt is at work, try later (:class:`ClaimBusyError`);
- ``started`` with the lease gone: that attempt died; the first delivery to notice takes the
  claim over (atomically) and finds out from the run state what happened, never running the
  action a second time. The API's sweep takes such claims over too (:meth:`Claims.take_over`)
  when no delivery comes (the whole worker died: its task waits out the broker's visibility
  timeout).

Inside :func:`leases_kept_alive` (each Celery task), a claim's lease is renewed in the
background from the moment it is acquired until it is done, handed over or the task ends, so
slow steps before the action (AWS look-ups for the blast radius, the auto-approval switch, the
target) never let a duplicate delivery take over a live attempt.
"""

from __future__ import annotations

import enum
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import redis
import structlog

from services.remediator.stores import redis_keys
from services.remediator.stores.packed_calls import Arg

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


# KEYS: 1 claim, 2 lease. ARGV: 1 token, 2 lease ms. Takes over a started claim nobody holds.
TAKE_OVER = """
local state = redis.call('GET', KEYS[1])
if state ~= 'started' then return state or 'missing' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'busy' end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return 'taken'
"""


class _Renewer:
    """The leases of the claims acquired inside :func:`leases_kept_alive` blocks, renewed by
    one thread per process (started with the first such claim, again after a fork): a task
    starts and joins no thread of its own. Each claim is renewed every third of its lease
    until its block ends or the lease is no longer its own (done, handed over, or lost)."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.due: dict[tuple[int, str], tuple[float, Claim]] = {}  # (block, key) -> when
        self.pid = 0
        self.wake_at = 0.0  # when the thread wakes next, unless told to earlier
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        # The parent's thread is not in the child, and it may have held the lock.
        self.lock = threading.Condition()
        self.due = {}
        self.pid = 0
        self.wake_at = 0.0

    def add(self, block: int, claim: Claim) -> None:
        with self.lock:
            if self.pid != os.getpid():  # the first claim in this process
                self.pid = os.getpid()
                name = "claim-leases"
                threading.Thread(target=self._run, name=name, daemon=True).start()
            due = time.monotonic() + _period(claim)
            self.due[(block, claim.key)] = (due, claim)
            if due < self.wake_at:  # else the thread wakes in time anyway: no switch to it
                self.lock.notify()

    def end(self, block: int) -> None:
        """Renews nothing of ``block`` once this returns (a renewal under way has finished)."""
        with self.lock:
            for entry in [e for e in self.due if e[0] == block]:
                del self.due[entry]

    def _run(self) -> None:
        with self.lock:
            while True:
                now = time.monotonic()
                for entry, (when, claim) in list(self.due.items()):
                    if when <= now:
                        self._renew(entry, claim)
                nearest = min((when for when, _ in self.due.values()), default=now + 60)
                timeout = max(nearest - time.monotonic(), 0.01)
                self.wake_at = time.monotonic() + timeout
                self.lock.wait(timeout=timeout)

    def _renew(self, entry: tuple[int, str], claim: Claim) -> None:
        # Under the lock: a block that ends waits for this renewal, so none follows its end.
        try:
            if not claim.claims.renew(claim):
                del self.due[entry]
                return
        except redis.RedisError as exc:  # the next renewal may succeed
            log.warning("lease_renewal_failed", claim=claim.key, error=str(exc))
        self.due[entry] = (time.monotonic() + _period(claim), claim)


def _period(claim: Claim) -> float:
    return max(claim.claims.lease_ms / 3000, 0.05)


_renewer = _Renewer()
_blocks = itertools.count(1)
_block: ContextVar[int | None] = ContextVar("claim_renewals", default=None)


@contextmanager
def leases_kept_alive() -> Iterator[None]:
    """Every claim acquired inside the block keeps its lease alive until the claim is done or
    handed over (its lease deleted), or the block ends: then a lease lapses as it would
    without renewal, so an attempt that ended without settling its claim never holds it."""
    block = next(_blocks)
    token = _block.set(block)
    try:
        yield
    finally:
        _block.reset(token)
        _renewer.end(block)


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
        """Waits for a re-check (or :meth:`Claims.waiting_commands`, sent with other writes)."""
        self.claims.set(self, CLAIM_WAITING)

    @contextmanager
    def kept_alive(self) -> Iterator[None]:
        """Renews the lease in the background while a long step runs (an action)."""
        stop = threading.Event()
        thread = self._renewing(stop)
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def _renewing(self, stop: threading.Event) -> threading.Thread:
        """A thread renewing the lease every third of it until ``stop``, or until the lease is
        no longer this attempt's (done, handed over, or lost)."""
        period = max(self.claims.lease_ms / 3000, 0.05)

        def renew() -> None:
            while not stop.wait(period):
                try:
                    if not self.claims.renew(self):
                        return
                except redis.RedisError as exc:  # the next renewal may succeed
                    log.warning("lease_renewal_failed", claim=self.key, error=str(exc))

        thread = threading.Thread(target=renew, name=f"lease:{self.key}", daemon=True)
        thread.start()
        return thread


class Claims:
    def __init__(self, client: redis.Redis, *, ttl_s: int, lease_s: float) -> None:
        self.redis = client
        self.ttl_s = ttl_s
        self.lease_ms = int(lease_s * 1000)
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self._take_over = client.register_script(TAKE_OVER)

    def acquire(
        self, subject: uuid.UUID, action: str | None, *, resume_waiting: bool = False
    ) -> Claim:
        """Raises :class:`ClaimBusyError` while another attempt holds the lease."""
        keys, args, claimed = self.acquire_call(subject, action, resume_waiting=resume_waiting)
        return claimed(self._acquire(keys=keys, args=args))

    def acquire_call(
        self, subject: uuid.UUID, action: str | None, *, resume_waiting: bool = False
    ) -> tuple[list[str], list[Any], Callable[[Any], Claim]]:
        """The keys and arguments of :data:`ACQUIRE` for :meth:`acquire` (run inside a larger
        script), and the function that takes its reply and answers as :meth:`acquire`."""
        key = redis_keys.claim(subject, action)
        token = uuid.uuid4().hex
        keys = [key, redis_keys.lease(key)]
        args = [token, self.ttl_s, self.lease_ms, "1" if resume_waiting else "0"]
        return keys, args, lambda reply: self._acquired(key, token, reply)

    def _acquired(self, key: str, token: str, reply: Any) -> Claim:
        state = reply.decode() if isinstance(reply, bytes) else str(reply)
        if state == "busy":
            raise ClaimBusyError(key)
        claim = Claim(key, token, ClaimState(state), self)
        block = _block.get()
        if block is not None and claim.state in (ClaimState.ACQUIRED, ClaimState.ABANDONED):
            _renewer.add(block, claim)
        return claim

    def take_over(self, key: str) -> Claim | str:
        """The claim ``key`` if it is started and nobody holds its lease (its attempt died);
        else why not: ``busy`` (an attempt holds it), ``done``, ``waiting`` or ``missing``."""
        token = uuid.uuid4().hex
        reply = self._take_over(keys=[key, redis_keys.lease(key)], args=[token, self.lease_ms])
        state = reply.decode() if isinstance(reply, bytes) else str(reply)
        if state != "taken":
            return state
        return Claim(key, token, ClaimState.ABANDONED, self)

    def set(self, claim: Claim, value: bytes) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(claim.key, value, ex=self.ttl_s)
            pipe.delete(redis_keys.lease(claim.key))
            pipe.execute()

    def waiting_commands(self, claim: Claim) -> list[list[Arg]]:
        """The commands making ``claim`` wait for a re-check, for the caller to send with the
        writes that must not be apart from it (the re-check's note: a claim waiting with
        nothing to end its wait is never decided)."""
        return [
            ["SET", claim.key, CLAIM_WAITING, "EX", self.ttl_s],
            ["DEL", redis_keys.lease(claim.key)],
        ]

    def renew(self, claim: Claim) -> bool:
        return bool(
            self._renew(keys=[redis_keys.lease(claim.key)], args=[claim.token, self.lease_ms])
        )

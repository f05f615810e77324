"""The SafetyManager: every shared-state check in one atomic Redis step.

``reserve`` checks, in order, the circuit breaker (automatic actions only), maintenance windows,
the target's lock, its cooldown, the action's blast radius and the global rolling-hour rate
limit, then the dry-run switch; when all pass it takes the lock, starts the cooldown, counts
the action and marks the run reserved, in the same step. ``peek`` runs the same checks and
changes nothing (shadow rules, evaluations, approvals before they are asked for).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from services.remediator.core.durations import format_duration
from services.remediator.core.safety_policy import SafetyLimits
from services.remediator.stores import redis_keys
from services.remediator.stores.safety_scripts import CHECK_AND_RESERVE, RELEASE

RUN_TTL_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class SafetyRequest:
    action: str
    target_key: str
    resource_id: str
    run_id: str
    cooldown_s: float | None = None  # None: the default cooldown
    blast_max: int = 0
    blast_window_s: float = 3600.0
    lock_ttl_s: float | None = None
    automatic: bool = True  # False: a human approved or asked; the breaker does not apply
    group: str | None = None  # the Auto Scaling group whose share the action counts against
    group_size: int = 0
    group_percent: float = 0.0
    group_max: int = 0  # most of its instances per action in the blast window (0: no share)
    group_members: tuple[str, ...] = ()  # the instances this action counts against the group
    # What the action acts on, resolved: sorted instance ids, or asg:NAME. Locks, cooldowns and
    # the blast radius are kept per member. Empty: the target key alone.
    members: tuple[str, ...] = ()
    # What the action also acts on without being its target: the instances of a group it
    # scales or acts on (as AWS listed them). Locked with the members, so no action on one of
    # them runs meanwhile, and an action on one of them running keeps this one waiting; their
    # cooldowns and blast radius counts are their own actions'.
    also_locked: tuple[str, ...] = ()
    # Every name of the target that maintenance windows match (ids, Name tags, groups, the
    # resource). Empty: the target key and the resource id.
    names: tuple[str, ...] = ()
    # What the blast radius counts, one per member, named where it is: a group of another
    # AWS account or region is another target than one of the same name here (its lock and
    # cooldown are shared with it: one can only wait for the other). Empty: the units.
    counted: tuple[str, ...] = ()

    @property
    def units(self) -> tuple[str, ...]:
        return self.members or (self.target_key,)

    @property
    def locked(self) -> tuple[str, ...]:
        """Everything the action holds the lock of while it runs."""
        units = self.units
        return (*units, *(u for u in dict.fromkeys(self.also_locked) if u not in units))

    @property
    def blast_counted(self) -> tuple[str, ...]:
        return self.counted or self.units

    @property
    def matched_names(self) -> tuple[str, ...]:
        return self.names or (self.target_key, self.resource_id)


@dataclass(frozen=True)
class SafetyVerdict:
    allowed: bool
    blocked_by: str | None = None
    detail: str = ""
    dry_run: bool = False
    reservation: str | None = None
    actions_used: int = 0


@dataclass(frozen=True)
class SafetyState:
    """What the safety layer holds now, all targets (GET /remediation/status, the gauges)."""

    actions_used: int  # in the rolling hour
    rate_limit: int
    cooldowns: tuple[str, ...]  # targets
    locks: tuple[str, ...]  # targets
    recent_failures: int  # within the breaker's window
    breaker: dict[str, Any] | None  # None: closed
    dry_run: bool


class SafetyManager:
    def __init__(self, client: redis.Redis, limits: SafetyLimits) -> None:
        self.redis = client
        self.limits = limits
        self._check = client.register_script(CHECK_AND_RESERVE)
        self._release = client.register_script(RELEASE)

    def reserve(self, request: SafetyRequest, now_ms: int | None = None) -> SafetyVerdict:
        return self._run("reserve", request, now_ms)

    def peek(self, request: SafetyRequest, now_ms: int | None = None) -> SafetyVerdict:
        return self._run("peek", request, now_ms)

    def peek_call(
        self, request: SafetyRequest
    ) -> tuple[list[str], list[Any], Callable[[Any], SafetyVerdict]]:
        """The keys and arguments of :meth:`peek`'s script (run inside a larger script), and
        the function that reads its reply."""
        script_keys, args, _ = self._call("peek", request, None)
        return script_keys, args, lambda reply: self._verdict(reply, request)

    def queue_peek(
        self, pipe: redis.client.Pipeline, request: SafetyRequest
    ) -> Callable[[Any], SafetyVerdict]:
        """Queues :meth:`peek` on ``pipe`` (by the script's hash, so a caller reads it with
        other things in one round trip); the returned function reads its reply. A pipeline
        whose Redis lacks the script raises ``NoScriptError``: :meth:`load_scripts`, then
        send it again."""
        script_keys, args, read = self.peek_call(request)
        pipe.evalsha(self._check.sha, len(script_keys), *script_keys, *args)
        return read

    def load_scripts(self) -> None:
        self.redis.script_load(CHECK_AND_RESERVE)

    def _run(self, mode: str, request: SafetyRequest, now_ms: int | None) -> SafetyVerdict:
        script_keys, args, _ = self._call(mode, request, now_ms)
        return self._verdict(self._check(keys=script_keys, args=args), request)

    def _call(
        self, mode: str, request: SafetyRequest, now_ms: int | None
    ) -> tuple[list[str], list[Any], str]:
        """The atomic step's keys and arguments, and the reservation id it would take."""
        limits = self.limits
        cooldown_s = limits.cooldown_s if request.cooldown_s is None else request.cooldown_s
        lock_ttl_s = request.lock_ttl_s or limits.lock_ttl_s
        # A peek reserves nothing: its reservation id is never used.
        reservation = uuid.uuid4().hex if mode == "reserve" else ""
        units = request.units
        group_members = request.group_members if request.group else ()
        per_member = [k for u in units for k in (redis_keys.cooldown(u), redis_keys.lock(u))]
        script_keys = [
            redis_keys.EXECUTED,
            redis_keys.BREAKER,
            redis_keys.MAINTENANCE,
            redis_keys.DRY_RUN,
            redis_keys.blast(request.action),
            redis_keys.run(request.run_id),
            redis_keys.blast_group(request.action, request.group or "-"),
            *per_member,
            *(redis_keys.lock(u) for u in request.locked[len(units) :]),
        ]
        args = [
            mode,
            "" if now_ms is None else now_ms,
            reservation,
            request.target_key,
            limits.rate_limit,
            int(limits.window_s * 1000),
            int(cooldown_s * 1000),
            int(max(cooldown_s, limits.cooldown_s) * 1000),
            int(lock_ttl_s * 1000),
            request.blast_max,
            int(request.blast_window_s * 1000),
            "1" if limits.dry_run else "0",
            "1" if request.automatic else "0",
            RUN_TTL_MS,
            request.action,
            request.group_max if request.group else 0,
            len(units),
            len(group_members),
            int(limits.memory_s * 1000),
            len(request.blast_counted),
            *units,
            *group_members,
            *request.blast_counted,
            *request.matched_names,
        ]
        return script_keys, args, reservation

    def _verdict(self, reply: Any, request: SafetyRequest) -> SafetyVerdict:
        limits = self.limits
        verdict, detail, number = _text(reply[0]), _text(reply[1]), int(reply[2])
        if verdict == "ok":
            return SafetyVerdict(
                True,
                reservation=detail or None,
                actions_used=number,
                detail=f"{number} of {limits.rate_limit} actions used in the last hour",
            )
        if verdict == "dry_run":
            return SafetyVerdict(True, dry_run=True, actions_used=number, detail="dry run")
        return SafetyVerdict(False, verdict, self._explain(verdict, detail, number, request))

    def _explain(self, check: str, detail: str, number: int, request: SafetyRequest) -> str:
        target = request.target_key
        if check == "circuit_breaker":
            return f"circuit breaker open since {_clock(number)}: {detail}; an admin must reset it"
        if check == "maintenance":
            return f"{target} is in maintenance window {detail} until {_clock(number)}"
        if check == "lock":
            by_key = {redis_keys.lock(u): u for u in request.locked[len(request.units) :]}
            on = _member_of(target, by_key.get(detail, detail))
            return f"another action is running on {on} (lock expires in {_wait(number)})"
        if check == "cooldown":
            on = _member_of(target, detail)
            return f"{on} was acted on recently; cooldown ends in {_wait(number)}"
        if check == "blast_radius" and detail == "group":
            return (
                f"{request.action} already acted on {number} of the {request.group_size} "
                f"instances of Auto Scaling group {request.group} within "
                f"{format_duration(request.blast_window_s)} (blast radius "
                f"{request.group_percent:g}%: at most {request.group_max})"
            )
        if check == "blast_radius":
            return (
                f"{detail} already acted on {number} targets within "
                f"{format_duration(request.blast_window_s)} (blast radius {request.blast_max})"
            )
        if check == "rate_limit":
            return (
                f"{detail} of {self.limits.rate_limit} actions used in the last hour; "
                f"next slot in {_wait(number)}"
            )
        return check

    def extend_lock(self, request: SafetyRequest, reservation: str, ttl_s: float) -> None:
        """Keeps the reservation's locks for at least ``ttl_s`` more (a run found to take
        longer than reserved for: a command staggered over more instances than known)."""
        self.redis.eval(
            "for i = 1, #KEYS do "
            "  if redis.call('GET', KEYS[i]) == ARGV[1] and "
            "     redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then "
            "    redis.call('PEXPIRE', KEYS[i], ARGV[2]) end "
            "end return 1",
            len(request.locked),
            *(redis_keys.lock(u) for u in request.locked),
            reservation,
            int(ttl_s * 1000),
        )

    def release(
        self, request: SafetyRequest, reservation: str, outcome: str, failure: str = ""
    ) -> bool:
        """Frees the target's lock; a failure counts toward the breaker. True: it opened."""
        opened = self._release(
            keys=[
                redis_keys.FAILURES,
                redis_keys.BREAKER,
                *(redis_keys.lock(u) for u in request.locked),
            ],
            args=[
                reservation,
                outcome,
                "",
                self.limits.breaker_failures,
                int(self.limits.breaker_window_s * 1000),
                failure[:200],
            ],
        )
        return bool(opened)

    def dry_run(self) -> bool:
        value = self.redis.get(redis_keys.DRY_RUN)
        return self.limits.dry_run if value is None else value == b"1"

    def set_dry_run(self, enabled: bool | None) -> None:
        """Switch dry-run on or off for every worker; None returns to SCOPS_DRY_RUN."""
        if enabled is None:
            self.redis.delete(redis_keys.DRY_RUN)
        else:
            self.redis.set(redis_keys.DRY_RUN, "1" if enabled else "0")

    def breaker(self) -> dict[str, Any] | None:
        state = self.redis.hgetall(redis_keys.BREAKER)
        if not state:
            return None
        opened = int(state.get(b"opened_at_ms", b"0"))
        return {
            "open": True,
            "opened_at": datetime.fromtimestamp(opened / 1000, UTC).isoformat(),
            "reason": state.get(b"reason", b"").decode(),
        }

    def reset_breaker(self) -> bool:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(redis_keys.BREAKER)
            pipe.delete(redis_keys.FAILURES)
            was_open, _ = pipe.execute()
        return bool(was_open)

    def state(self) -> SafetyState:
        now_ms = _server_ms(self.redis)
        window_ms = int(self.limits.window_s * 1000)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcount(redis_keys.EXECUTED, f"({now_ms - window_ms}", "+inf")
            pipe.zcount(
                redis_keys.FAILURES, f"({now_ms - int(self.limits.breaker_window_s * 1000)}", "+inf"
            )
            used, failures = pipe.execute()
        cooldown, lock = redis_keys.cooldown(""), redis_keys.lock("")
        cooling: list[str] = []
        locks = []
        for raw in self.redis.scan_iter(match=f"{redis_keys.SAFETY}:*", count=1000):
            key = raw.decode()
            if key.startswith(cooldown):
                cooling.append(key)
            elif key.startswith(lock):
                locks.append(key.removeprefix(lock))
        # A cooldown key outlives its cooldown (it is remembered for longer rules' checks):
        # listed while the "until" it holds lies ahead (a key without one, while it exists).
        cooldowns = [
            key.removeprefix(cooldown)
            for key, held in zip(cooling, self.redis.mget(cooling) if cooling else [], strict=True)
            if held is not None and _cooling_until(held) > now_ms
        ]
        return SafetyState(
            actions_used=int(used),
            rate_limit=self.limits.rate_limit,
            cooldowns=tuple(sorted(cooldowns)),
            locks=tuple(sorted(locks)),
            recent_failures=int(failures),
            breaker=self.breaker(),
            dry_run=self.dry_run(),
        )

    def counters(self) -> dict[str, Any]:
        state = self.state()
        return {
            "actions_this_hour": state.actions_used,
            "rate_limit_per_hour": state.rate_limit,
            "active_cooldowns": list(state.cooldowns),
            "active_locks": list(state.locks),
            "recent_failures": state.recent_failures,
            "breaker": state.breaker or {"open": False},
            "dry_run": state.dry_run,
        }


def _cooling_until(held: bytes) -> float:
    """Until when (ms) a cooldown key's member counts as cooling down; a key written before
    it held "last:until" counts while it exists."""
    _last, sep, until = held.decode().partition(":")
    try:
        return float(until) if sep else math.inf
    except ValueError:
        return math.inf


def _member_of(target: str, member: str) -> str:
    return target if member in ("", target) else f"{member} (of {target})"


def _server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _wait(ms: int) -> str:
    return format_duration(max(round(ms / 1000), 1))


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

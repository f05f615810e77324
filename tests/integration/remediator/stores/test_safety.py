"""The SafetyManager on a real Redis: each check, their order, and the rate limit, cooldown and
lock holding when many processes decide at once."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import replace
from datetime import timedelta

import pytest
import redis

from services.remediator.core.safety_policy import SafetyLimits, glob_to_lua, static_refusal
from services.remediator.core.targets import Target
from services.remediator.stores.maintenance import MaintenanceWindows
from services.remediator.stores.safety import SafetyManager, SafetyRequest
from shared.events import utcnow

LIVE = SafetyLimits(rate_limit=10, cooldown_s=300, dry_run=False, breaker_failures=2)
T0 = 1_800_000_000_000


def request(target: str = "i-0aaaaaaaaaaaaaaa1", **changes: object) -> SafetyRequest:
    fields: dict[str, object] = {
        "action": "restart_service",
        "target_key": target,
        "resource_id": "web-1",
        "run_id": f"run-{target}",
    }
    fields.update(changes)
    return SafetyRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def safety(sync_redis: redis.Redis) -> SafetyManager:
    return SafetyManager(sync_redis, LIVE)


def test_a_reservation_takes_lock_cooldown_and_a_slot(
    safety: SafetyManager, sync_redis: redis.Redis
) -> None:
    first = safety.reserve(request(), T0)
    assert first.allowed and first.reservation and first.actions_used == 1
    assert (
        sync_redis.hget("scops:{remediation}:run:run-i-0aaaaaaaaaaaaaaa1", "state") == b"reserved"
    )
    locked = safety.reserve(request(), T0 + 1000)
    assert (locked.allowed, locked.blocked_by) == (False, "lock")
    safety.release(request(), first.reservation, "succeeded")
    cooling = safety.reserve(request(), T0 + 2000)
    assert cooling.blocked_by == "cooldown"
    assert "cooldown ends in 4m58s" in cooling.detail
    after = safety.reserve(request(), T0 + 301_000)
    assert after.allowed
    # A rule's own cooldown overrides the default.
    safety.release(request(), after.reservation or "", "succeeded")
    assert safety.reserve(request(cooldown_s=10), T0 + 312_000).allowed


def test_the_rolling_hour_rate_limit(safety: SafetyManager) -> None:
    verdicts = [safety.reserve(request(f"i-{n:017x}"), T0 + n) for n in range(12)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 2
    assert verdicts[10].blocked_by == "rate_limit"
    assert verdicts[10].detail.startswith("10 of 10 actions used in the last hour")
    # The oldest slot frees an hour after it was taken.
    assert not safety.reserve(request("i-0000000000000000f"), T0 + 3_599_999).allowed
    assert safety.reserve(request("i-0000000000000000f"), T0 + 3_600_001).allowed


def test_peek_changes_nothing(safety: SafetyManager, sync_redis: redis.Redis) -> None:
    for n in range(5):
        assert safety.peek(request(), T0 + n).allowed
    assert sync_redis.keys("*") == []


def test_dry_run_is_checked_last_and_reserves_nothing(sync_redis: redis.Redis) -> None:
    dry = SafetyManager(sync_redis, SafetyLimits(dry_run=True))
    verdict = dry.reserve(request(), T0)
    assert verdict.allowed and verdict.dry_run and verdict.reservation is None
    assert sync_redis.keys("*") == []
    dry.set_dry_run(False)
    assert dry.reserve(request(), T0).reservation is not None
    dry.set_dry_run(None)
    assert dry.dry_run()


def test_blast_radius_counts_distinct_targets(safety: SafetyManager) -> None:
    def reserve(target: str, at: int) -> str | None:
        verdict = safety.reserve(request(target, blast_max=2, cooldown_s=0), at)
        if verdict.reservation:
            safety.release(request(target), verdict.reservation, "succeeded")
        return verdict.blocked_by

    assert reserve("i-0aaaaaaaaaaaaaaa1", T0) is None
    assert reserve("i-0aaaaaaaaaaaaaaa2", T0 + 1) is None
    assert reserve("i-0aaaaaaaaaaaaaaa1", T0 + 2) is None  # a target already counted
    assert reserve("i-0aaaaaaaaaaaaaaa3", T0 + 3) == "blast_radius"
    assert reserve("i-0aaaaaaaaaaaaaaa3", T0 + 3_600_001) is None


def test_failures_open_the_breaker_until_reset(safety: SafetyManager) -> None:
    for n in range(2):
        target = f"i-0bbbbbbbbbbbbbbb{n}"
        verdict = safety.reserve(request(target), T0 + n)
        assert verdict.reservation
        opened = safety.release(request(target), verdict.reservation, "failed", "exit code 1")
    assert opened
    blocked = safety.reserve(request("i-0ccccccccccccccc1"))
    assert blocked.blocked_by == "circuit_breaker"
    assert "2 actions failed" in blocked.detail and "an admin must reset it" in blocked.detail
    # A human's decision is not automatic: the breaker does not stop it.
    assert safety.peek(request("i-0ccccccccccccccc1", automatic=False)).allowed
    assert safety.reset_breaker()
    assert safety.reserve(request("i-0ccccccccccccccc1")).allowed


def test_maintenance_windows_match_target_or_resource(
    safety: SafetyManager, sync_redis: redis.Redis
) -> None:
    windows = MaintenanceWindows(sync_redis)
    now = utcnow()
    window = windows.add(
        "web-*",
        now - timedelta(minutes=1),
        now + timedelta(hours=1),
        reason="deploy",
        created_by="ana",
    )
    blocked = safety.reserve(request())
    assert blocked.blocked_by == "maintenance"
    assert window.id in blocked.detail
    assert safety.reserve(request(resource_id="db-1")).allowed
    assert [w.id for w in windows.current()] == [window.id]
    windows.remove(window.id)
    assert safety.reserve(request("i-0ddddddddddddddd1")).allowed


def test_static_checks_and_lua_patterns() -> None:
    limits = SafetyLimits(
        allowed_actions=frozenset({"restart_service"}), denied_targets=("db-*", "tag:Name=prod*")
    )
    assert static_refusal(limits, "scale_in", ["asg:web", "web-1"]) is not None
    refusal = static_refusal(limits, "restart_service", ["i-1", "db-7"])
    assert refusal is not None and refusal.check == "deny_list" and "'db-*'" in refusal.detail
    assert static_refusal(limits, "restart_service", ["tag:Name=prod-api", "x"]) is not None
    assert static_refusal(limits, "restart_service", ["i-1", "web-1"]) is None
    assert glob_to_lua("web-?.example*") == "^web%-.%.example.*$"
    with pytest.raises(ValueError, match="only"):
        glob_to_lua("web-[12]")


I1, I2, I3 = "i-0aaaaaaaaaaaaaaa1", "i-0aaaaaaaaaaaaaaa2", "i-0aaaaaaaaaaaaaaa3"


def as_target(target: Target, run_id: str, **changes: object) -> SafetyRequest:
    return request(target.key, run_id=run_id, members=target.members, **changes)


def test_one_instance_spelled_several_ways_meets_one_lock_and_one_cooldown(
    safety: SafetyManager,
) -> None:
    """[I], [I, I] and [I, J] are the same instance I for the lock and the cooldown."""
    first = safety.reserve(as_target(Target.for_instances(I1), "run-a"), T0)
    assert first.reservation
    twice = safety.reserve(as_target(Target.for_instances(I1, I1), "run-b"), T0 + 1)
    assert twice.blocked_by == "lock"
    in_a_set = safety.reserve(as_target(Target.for_instances(I2, I1), "run-c"), T0 + 2)
    assert in_a_set.blocked_by == "lock" and I1 in in_a_set.detail
    safety.release(as_target(Target.for_instances(I1), "run-a"), first.reservation, "succeeded")
    cooling = safety.reserve(as_target(Target.for_instances(I1, I2), "run-d"), T0 + 3)
    assert cooling.blocked_by == "cooldown" and I1 in cooling.detail
    # The set's other instance is free: only I1's cooldown stands in the way.
    assert safety.reserve(as_target(Target.for_instances(I2), "run-e"), T0 + 4).allowed


def test_a_set_of_instances_takes_every_member_lock_and_frees_them(
    safety: SafetyManager,
) -> None:
    pair = as_target(Target.for_instances(I1, I2), "run-pair", cooldown_s=0)
    verdict = safety.reserve(pair, T0)
    assert verdict.reservation
    for member in (I1, I2):
        blocked = safety.reserve(as_target(Target.for_instances(member), f"r-{member}"), T0 + 1)
        assert blocked.blocked_by == "lock"
    safety.release(pair, verdict.reservation, "succeeded")
    alone = as_target(Target.for_instances(I2), "run-after", cooldown_s=0)
    assert safety.reserve(alone, T0 + 2).allowed


def test_a_scale_in_holds_its_groups_instances_and_meets_their_locks(
    safety: SafetyManager,
) -> None:
    """A scale-in terminates one of its group's instances: it waits while an action runs on
    any of them, and none starts on them while it runs; their cooldowns stay their own."""
    group = Target.for_group("web")

    def scale_in(run_id: str) -> SafetyRequest:
        checks = as_target(group, run_id, cooldown_s=0)
        return replace(checks, action="scale_in", also_locked=(I2, I1))

    restart = as_target(Target.for_instances(I2), "run-restart")
    running = safety.reserve(restart, T0)
    assert running.reservation
    waiting = safety.reserve(scale_in("run-in-1"), T0 + 1)
    assert waiting.blocked_by == "lock" and f"{I2} (of asg:web)" in waiting.detail
    safety.release(restart, running.reservation, "succeeded")

    scaling = safety.reserve(scale_in("run-in-2"), T0 + 2)
    assert scaling.reservation
    for member in (I1, I2):
        verdict = safety.reserve(as_target(Target.for_instances(member), f"r-{member}"), T0 + 3)
        assert verdict.blocked_by == "lock", member
    assert safety.reserve(as_target(Target.for_instances(I3), "r-other"), T0 + 3).allowed
    safety.release(scale_in("run-in-2"), scaling.reservation, "succeeded")
    # The scale-in left no cooldown on the instances: I1 is free at once, I2 cools down from
    # its restart.
    assert safety.reserve(as_target(Target.for_instances(I1), "run-i1"), T0 + 4).allowed
    assert safety.reserve(as_target(Target.for_instances(I2), "run-i2"), T0 + 5).blocked_by == (
        "cooldown"
    )


def test_blast_radius_counts_instances_not_spellings(safety: SafetyManager) -> None:
    def reserve(target: Target, run_id: str, at: int) -> str | None:
        checks = as_target(target, run_id, blast_max=2, cooldown_s=0)
        verdict = safety.reserve(checks, at)
        if verdict.reservation:
            safety.release(checks, verdict.reservation, "succeeded")
        return verdict.blocked_by

    assert reserve(Target.for_instances(I1, I1), "a", T0) is None
    assert reserve(Target.for_instances(I1), "b", T0 + 1) is None  # the same one instance
    # Two new instances at once would make three: refused, though it is one "target".
    assert reserve(Target.for_instances(I2, I3), "c", T0 + 2) == "blast_radius"
    assert reserve(Target.for_instances(I1, I2), "d", T0 + 3) is None


def test_maintenance_windows_match_every_name_of_the_resolved_target(
    safety: SafetyManager, sync_redis: redis.Redis
) -> None:
    windows = MaintenanceWindows(sync_redis)
    now = utcnow()
    windows.add(
        "web-*",
        now - timedelta(minutes=1),
        now + timedelta(hours=1),
        reason="deploy",
        created_by="a",
    )
    tagged = Target.for_tags({"Name": "web-7"})
    blocked = safety.reserve(
        request(tagged.key, resource_id="anything", names=(*tagged.names(), "anything"))
    )
    assert blocked.blocked_by == "maintenance"
    assert safety.peek(request(I1, resource_id="db-1", names=(I1, "db-1"))).allowed


def _contend(url: str, worker: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    client = redis.Redis.from_url(url)
    safety = SafetyManager(client, LIVE)
    outcomes = []
    for n in range(25):
        target = f"i-{(worker * 25 + n) % 20:017x}"
        verdict = safety.reserve(request(target, run_id=f"w{worker}-{n}"))
        outcomes.append((target, verdict.allowed, verdict.blocked_by))
    results.put(outcomes)
    client.close()


def test_eight_processes_at_once_never_exceed_the_limits(redis_url: str) -> None:
    """200 decisions on 20 targets from 8 processes: 10 reserved, on 10 different targets,
    and a reason for every refusal."""
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_contend, args=(redis_url, w, results)) for w in range(8)]
    start = time.monotonic()
    for proc in procs:
        proc.start()
    outcomes = [o for _ in procs for o in results.get(timeout=60)]
    for proc in procs:
        proc.join(timeout=10)
    assert time.monotonic() - start < 30
    assert len(outcomes) == 200
    allowed = [target for target, ok, _ in outcomes if ok]
    assert len(allowed) == 10
    assert len(set(allowed)) == 10
    reasons = {reason for _, ok, reason in outcomes if not ok}
    assert reasons <= {"rate_limit", "lock", "cooldown"}
    assert all(reason for _, ok, reason in outcomes if not ok)


WINDOW_PATTERNS = ("web-?", "?eb-*", "web-??", "*-?", "w?b-?-x", "web-*", "WEB-?")
WINDOW_NAMES = (
    "web-a",
    "web-ä",
    "web-ж",
    "web-日",
    "web-😀",
    "web-ab",
    "web-äb",
    "wäb-1",
    "wäb-ü-x",
    "Web-a",
    "WEB-a",
    "web-",
    "db-1",
)


@pytest.mark.parametrize("pattern", WINDOW_PATTERNS)
def test_a_window_matches_the_names_a_deny_pattern_matches(
    pattern: str, safety: SafetyManager, sync_redis: redis.Redis
) -> None:
    """``?`` is one character (not one byte), case counts, as in deny-list patterns: a window
    and a deny pattern spelled alike hold the same names."""
    now = utcnow()
    MaintenanceWindows(sync_redis).add(
        pattern, now - timedelta(minutes=1), now + timedelta(hours=1), reason="r", created_by="a"
    )
    denied = SafetyLimits(denied_targets=(pattern,))
    for name in WINDOW_NAMES:
        held = not safety.peek(request(I1, resource_id=name, names=(I1, name))).allowed
        refused = static_refusal(denied, "restart_service", [I1, name]) is not None
        assert held == refused, (pattern, name)

"""A live decision's two Redis steps, one script each, answer what the stores answer alone: the
claim as :meth:`Claims.acquire`, the flags as :meth:`Escalations.reason`, the peek as
:meth:`SafetyManager.peek` (changing nothing), the recent anomalies as
:meth:`RecentAnomalies.note_and_read`."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import redis

from services.remediator.core.safety_policy import SafetyLimits
from services.remediator.stores import redis_keys
from services.remediator.stores.claims import ClaimBusyError, Claims, ClaimState
from services.remediator.stores.decision_steps import DecisionSteps, Noted, Peeked
from services.remediator.stores.escalations import reason_from
from services.remediator.stores.recent import RecentAnomalies
from services.remediator.stores.safety import SafetyManager, SafetyRequest
from tests.support.remediator_fixtures import AnomalyFactory

LIVE = SafetyLimits(rate_limit=10, cooldown_s=300, dry_run=False)
TARGET = "i-0aaaaaaaaaaaaaaa1"


def checks(run: str = "run-1", **changes: object) -> SafetyRequest:
    fields: dict[str, object] = {
        "action": "restart_service",
        "target_key": TARGET,
        "resource_id": "web-1",
        "run_id": run,
    }
    fields.update(changes)
    return SafetyRequest(**fields)  # type: ignore[arg-type]


def flags(*names: str) -> list[str]:
    return [redis_keys.escalation(name) for name in names]


@pytest.fixture
def parts(sync_redis: redis.Redis) -> tuple[DecisionSteps, Claims, SafetyManager]:
    return (
        DecisionSteps(sync_redis),
        Claims(sync_redis, ttl_s=60, lease_s=5),
        SafetyManager(sync_redis, LIVE),
    )


def test_claim_and_peek_acquires_reads_the_flags_and_peeks_like_the_stores_alone(
    parts: tuple[DecisionSteps, Claims, SafetyManager], sync_redis: redis.Redis
) -> None:
    steps, claims, safety = parts
    sync_redis.set(redis_keys.escalation(TARGET), '{"why": "not improved"}')
    wanted = flags("x", TARGET, "resource:web-1")  # the first set, the one between, the last not
    subject = uuid.uuid4()

    peeked = steps.claim_and_peek(claims, subject, "restart_service", wanted, safety, checks())

    assert peeked.claim.state is ClaimState.ACQUIRED
    assert sync_redis.get(peeked.claim.key) == b"started"
    assert sync_redis.get(redis_keys.lease(peeked.claim.key)) == peeked.claim.token.encode()
    assert peeked.flags == [None, b'{"why": "not improved"}', None]
    assert reason_from(peeked.flags) == "not improved"
    assert peeked.verdict.allowed and peeked.verdict.reservation is None
    assert peeked.verdict == safety.peek(checks())
    # A peek reserves nothing: a reservation still finds every check passing.
    assert safety.reserve(checks()).reservation is not None
    assert steps.claim_and_peek(
        claims, uuid.uuid4(), "restart_service", [], safety, checks("run-2")
    ).verdict == safety.peek(checks("run-2"))
    assert not steps.claim_and_peek(
        claims, uuid.uuid4(), "restart_service", [], safety, checks("run-2")
    ).verdict.allowed


def test_claim_and_peek_answers_a_duplicate_delivery_as_acquire_does(
    parts: tuple[DecisionSteps, Claims, SafetyManager], sync_redis: redis.Redis
) -> None:
    steps, claims, safety = parts
    subject = uuid.uuid4()
    first = steps.claim_and_peek(claims, subject, "restart_service", [], safety, checks())

    with pytest.raises(ClaimBusyError):  # the first attempt holds the lease
        steps.claim_and_peek(claims, subject, "restart_service", [], safety, checks())

    sync_redis.delete(redis_keys.lease(first.claim.key))  # that attempt died
    again = steps.claim_and_peek(claims, subject, "restart_service", [], safety, checks())
    assert again.claim.state is ClaimState.ABANDONED

    again.claim.finish()
    done = steps.claim_and_peek(claims, subject, "restart_service", [], safety, checks())
    assert done.claim.state is ClaimState.DONE


def test_claim_and_peek_reports_the_check_that_refuses(
    parts: tuple[DecisionSteps, Claims, SafetyManager],
) -> None:
    steps, claims, safety = parts
    assert safety.reserve(checks("run-0")).reservation is not None  # lock and cooldown taken

    peeked = steps.claim_and_peek(
        claims, uuid.uuid4(), "restart_service", flags(TARGET), safety, checks()
    )

    assert peeked.claim.state is ClaimState.ACQUIRED
    assert peeked.flags == [None]
    assert peeked.verdict.blocked_by == "lock"
    assert peeked.verdict == safety.peek(checks())


def test_the_steps_load_their_scripts_again_after_redis_forgot_them(
    parts: tuple[DecisionSteps, Claims, SafetyManager],
    sync_redis: redis.Redis,
    anomaly: AnomalyFactory,
) -> None:
    steps, claims, safety = parts
    sync_redis.script_flush()

    assert steps.note_and_read(anomaly()).rules_version is None
    peeked = steps.claim_and_peek(claims, uuid.uuid4(), "restart_service", [], safety, checks())
    assert peeked.claim.state is ClaimState.ACQUIRED and peeked.verdict.allowed


def test_note_and_read_keeps_the_latest_observation_and_reads_the_rules_and_shadows(
    sync_redis: redis.Redis, anomaly: AnomalyFactory
) -> None:
    steps = DecisionSteps(sync_redis, recent_window_s=600)
    recent = RecentAnomalies(sync_redis, window_s=600)
    at = anomaly().observed_at
    disk = anomaly(metric="disk_utilization", observed_at=at - timedelta(minutes=5))
    stale = anomaly(metric="memory_utilization", observed_at=at - timedelta(minutes=15))
    recent.note_and_read(stale)
    recent.note_and_read(disk)
    sync_redis.hset(redis_keys.RULES_ACTIVE, mapping={"version": "v7", "text": "rules"})
    sync_redis.hset(redis_keys.AUTO_SHADOW, "cpu-critical", "{}")

    noted = steps.note_and_read(anomaly())

    # Memory was 15 minutes before: out of the window, unread (stored until two windows).
    assert noted.recent == frozenset({"disk_utilization"})
    assert noted.rules_version == b"v7"
    assert noted.shadowed == frozenset({"cpu-critical"})
    assert noted.recent == recent.read(anomaly())
    key = redis_keys.recent("web-1")
    assert sync_redis.zscore(key, "memory_utilization") is not None
    # An older observation of the same metric (a late delivery) does not move it back.
    steps.note_and_read(disk.model_copy(update={"observed_at": at - timedelta(minutes=9)}))
    assert sync_redis.zscore(key, "disk_utilization") == int(
        (at - timedelta(minutes=5)).timestamp() * 1000
    )
    # What is older than two windows is gone.
    later = anomaly(observed_at=at + timedelta(minutes=12))
    assert steps.note_and_read(later).recent == frozenset()
    assert sync_redis.zscore(key, "memory_utilization") is None
    assert sync_redis.zscore(key, "disk_utilization") is not None
    assert 0 < sync_redis.pttl(key) <= 1_200_000


def test_note_claim_and_peek_claims_only_when_what_it_reads_is_what_was_assumed(
    parts: tuple[DecisionSteps, Claims, SafetyManager],
    sync_redis: redis.Redis,
    anomaly: AnomalyFactory,
) -> None:
    steps, claims, safety = parts
    sync_redis.hset(redis_keys.RULES_ACTIVE, mapping={"version": "v1", "text": "rules"})
    sync_redis.hset(redis_keys.AUTO_SHADOW, "quiet", "{}")
    assumed = Noted(frozenset(), b"v1", frozenset({"quiet"}))
    wrong = [
        Noted(frozenset(), b"v0", frozenset({"quiet"})),  # rules published since
        Noted(frozenset(), b"v1", frozenset()),  # a rule switched to shadow mode since
        Noted(frozenset(), b"v1", frozenset({"quiet", "other"})),
    ]
    event = anomaly(resource_id="web-7")
    for guess in wrong:
        subject = uuid.uuid4()
        read = steps.note_claim_and_peek(
            event, guess, claims, subject, "restart_service", [], safety, checks()
        )
        assert read == Noted(frozenset(), b"v1", frozenset({"quiet"}))
        assert sync_redis.keys(redis_keys.claim(subject, "*")) == []  # nothing claimed
    assert sync_redis.zrange(redis_keys.recent("web-7"), 0, -1) == [b"cpu_utilization"]

    subject = uuid.uuid4()
    peeked = steps.note_claim_and_peek(
        event, assumed, claims, subject, "restart_service", [], safety, checks()
    )
    assert isinstance(peeked, Peeked)
    assert peeked.claim.state is ClaimState.ACQUIRED and peeked.verdict == safety.peek(checks())

    # Another metric anomalous on the resource within the window: read, nothing claimed.
    disk = anomaly(resource_id="web-8", metric="disk_utilization")
    steps.note_and_read(disk)
    subject = uuid.uuid4()
    read = steps.note_claim_and_peek(
        anomaly(resource_id="web-8"),
        assumed,
        claims,
        subject,
        "restart_service",
        [],
        safety,
        checks(),
    )
    assert isinstance(read, Noted) and read.recent == frozenset({"disk_utilization"})
    assert sync_redis.keys(redis_keys.claim(subject, "*")) == []

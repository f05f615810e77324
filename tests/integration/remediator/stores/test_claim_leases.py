"""A task's claims keep their leases while the task works, and only then: a duplicate delivery
waits while the attempt lives and takes the claim over once the attempt has ended unsettled."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from services.remediator.stores.claims import ClaimBusyError, Claims, ClaimState, leases_kept_alive

LEASE_S = 0.3


def _duplicate(claims: Claims, subject: uuid.UUID) -> ClaimState | None:
    """What a duplicate delivery finds: None while the attempt holds the lease."""
    try:
        return claims.acquire(subject, "restart_service").state
    except ClaimBusyError:
        return None


def test_a_working_task_keeps_its_claims_past_the_lease_and_lets_go_when_it_ends(
    sync_redis: redis.Redis,
) -> None:
    claims = Claims(sync_redis, ttl_s=60, lease_s=LEASE_S)
    first, second = uuid.uuid4(), uuid.uuid4()
    with leases_kept_alive():
        claims.acquire(first, "restart_service")
        claims.acquire(second, "restart_service")
        held_until = time.monotonic() + 4 * LEASE_S
        while time.monotonic() < held_until:  # four leases long, every poll finds it held
            assert _duplicate(claims, first) is None
            assert _duplicate(claims, second) is None
            time.sleep(LEASE_S / 6)
    deadline = time.monotonic() + 10 * LEASE_S
    while (state := _duplicate(claims, first)) is None:
        if time.monotonic() > deadline:
            pytest.fail("the lease of an ended task was still renewed")
        time.sleep(LEASE_S / 6)
    assert state is ClaimState.ABANDONED


def test_a_claim_settled_inside_the_task_is_no_longer_renewed(sync_redis: redis.Redis) -> None:
    claims = Claims(sync_redis, ttl_s=60, lease_s=LEASE_S)
    subject = uuid.uuid4()
    with leases_kept_alive():
        claim = claims.acquire(subject, "restart_service")
        claim.finish()
        assert _duplicate(claims, subject) is ClaimState.DONE
        lease = f"{claim.key}:lease"
        until = time.monotonic() + 2 * LEASE_S
        while time.monotonic() < until:  # the renewer must not bring the lease back
            assert sync_redis.exists(lease) == 0
            time.sleep(LEASE_S / 6)

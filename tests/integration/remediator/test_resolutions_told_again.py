"""A resolution the remediator has already handled, handed to it again (the detector replays
its samples after a restart from an older checkpoint and publishes the same events again, or
the stream redelivers an entry), changes nothing: it is the resolution of an episode that
ended before, not news about the episode open now. Real Redis, the API's dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.remediator.stores import redis_keys
from shared.events import AnomalyEvent, AnomalyResolved, RemediationStatus, Severity
from tests.integration.remediator.conftest import HarnessFactory
from tests.integration.remediator.test_sweep_and_resolved import dispatch
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_utilization}
    verify: {within: 10m}
    actions: [{action: optimize_performance, params: {script: collect-diagnostics}}]
  - name: load-lasting
    match: {metric: load_avg}
    for: 5m
    actions: [{action: optimize_performance, params: {script: collect-diagnostics}}]
"""
START = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def resolution(of: AnomalyEvent, after_s: float) -> AnomalyResolved:
    """The detector's resolution of the episode ``of`` opened (its id derived as the detector
    derives it: the same every time it is published)."""
    return AnomalyResolved(
        event_id=AnomalyResolved.derive_id(of.event_id),
        anomaly_id=of.event_id,
        resource_id=of.resource_id,
        metric=of.metric,
        started_at=of.observed_at,
        resolved_at=of.observed_at + timedelta(seconds=after_s),
        duration_s=after_s,
        peak_severity=Severity.CRITICAL,
        last_value=30.0,
    )


def test_an_old_resolution_delivered_again_does_not_verify_the_next_episodes_action(
    harness: HarnessFactory, anomaly: AnomalyFactory, redis_url: str
) -> None:
    h = harness(RULES, executor="local", cooldown_s=0)
    first = anomaly(resource_id="web-3", observed_at=START)
    ran = h.workflow.handle(first)
    assert ran is not None and ran.status == RemediationStatus.SUCCEEDED and ran.run_id
    over = resolution(first, after_s=120)
    dispatch(redis_url, [over])
    verified = h.remediator.verifier.check(ran.run_id, follow=False)
    assert verified is not None and verified.status == RemediationStatus.VERIFIED

    # Ten minutes later the series goes wrong again: a new episode, a new action, watched.
    second = anomaly(resource_id="web-3", observed_at=START + timedelta(minutes=10))
    again = h.workflow.handle(second)
    assert again is not None and again.status == RemediationStatus.SUCCEEDED and again.run_id
    assert h.remediator.verifier.check(again.run_id, follow=False) is None  # nothing seen yet

    dispatch(redis_url, [over])  # the first episode's resolution, published again
    assert h.remediator.verifier.check(again.run_id, follow=False) is None, (
        "the last episode's resolution verified this episode's action"
    )

    dispatch(redis_url, [resolution(second, after_s=90)])  # this episode's own
    verified = h.remediator.verifier.check(again.run_id, follow=False)
    assert verified is not None and verified.status == RemediationStatus.VERIFIED


def test_an_old_resolution_delivered_again_does_not_end_the_next_episodes_streak(
    harness: HarnessFactory, anomaly: AnomalyFactory, redis_url: str
) -> None:
    h = harness(RULES, dry_run=True)
    first = anomaly(resource_id="web-4", metric="load_avg", observed_at=START)
    proposed = h.workflow.handle(first)
    assert proposed is not None and proposed.status == RemediationStatus.PROPOSED
    over = resolution(first, after_s=60)
    dispatch(redis_url, [over])
    streak = redis_keys.debounce("web-4", "load_avg")
    assert not h.client.exists(streak)  # the episode is over: so is its streak

    second = anomaly(
        resource_id="web-4", metric="load_avg", observed_at=START + timedelta(minutes=3)
    )
    proposed = h.workflow.handle(second)
    assert proposed is not None and proposed.status == RemediationStatus.PROPOSED
    assert h.client.exists(streak)

    dispatch(redis_url, [over])  # the first episode's resolution, published again
    assert h.client.exists(streak), "the last episode's resolution ended this episode's streak"
    (_, _, _), (rechecked, rule, _delay) = h.work.rechecks
    assert rechecked == second
    decided = h.workflow.recheck(rechecked, rule)  # acts: the condition did not clear
    assert decided is not None and decided.status == RemediationStatus.DRY_RUN


def test_a_resolution_first_handed_over_after_the_next_episode_acted_does_not_verify_it(
    harness: HarnessFactory, anomaly: AnomalyFactory, redis_url: str
) -> None:
    # The first episode's resolution waits, unread, on a consumer that died (taken over only
    # after its idle time); meanwhile the series goes wrong again and an action is taken.
    h = harness(RULES, executor="local", cooldown_s=0)
    first = anomaly(resource_id="web-5", observed_at=START)
    ran = h.workflow.handle(first)
    assert ran is not None and ran.status == RemediationStatus.SUCCEEDED
    second = anomaly(resource_id="web-5", observed_at=START + timedelta(minutes=10))
    again = h.workflow.handle(second)
    assert again is not None and again.status == RemediationStatus.SUCCEEDED and again.run_id

    dispatch(redis_url, [resolution(first, after_s=120)])  # late, about the first episode
    assert h.remediator.verifier.check(again.run_id, follow=False) is None, (
        "the earlier episode's resolution verified the action on the episode open now"
    )

    dispatch(redis_url, [resolution(second, after_s=90)])
    verified = h.remediator.verifier.check(again.run_id, follow=False)
    assert verified is not None and verified.status == RemediationStatus.VERIFIED


def test_a_series_gone_silent_does_not_verify_the_action_taken_on_it(
    harness: HarnessFactory, anomaly: AnomalyFactory, redis_url: str
) -> None:
    """The detector closes the anomaly of a series that stopped sending (``no_data``): the
    instance acted on may be gone, which says nothing about whether the action worked."""
    h = harness(RULES, executor="local", cooldown_s=0)
    first = anomaly(resource_id="web-4", observed_at=START)
    ran = h.workflow.handle(first)
    assert ran is not None and ran.status == RemediationStatus.SUCCEEDED and ran.run_id
    silent = resolution(first, after_s=60).model_copy(update={"reason": "no_data"})
    dispatch(redis_url, [silent])
    assert h.remediator.verifier.check(ran.run_id, follow=False) is None, (
        "a series that went silent verified the action"
    )

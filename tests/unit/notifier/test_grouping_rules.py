"""Alertmanager's grouping rules on alerts (pure): when a group speaks and what it says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.notifier.core.alerts import Alert, Decision, GroupMeta, Timing, fingerprint
from services.notifier.core.grouping import (
    FlushPlan,
    apply_anomaly,
    apply_decision,
    apply_resolution,
    open_group,
    plan_flush,
    schedule_change,
)
from shared.events import RemediationStatus, Severity
from tests.support.notifier_events import T0, anomaly, resolved

TIMING = Timing(group_wait_s=10, group_interval_s=60, repeat_interval_s=3600)
START = T0.timestamp()
TTL = 12 * 3600


class Group:
    """A group driven through the pure rules, as the store does in Redis."""

    def __init__(self) -> None:
        self.meta: GroupMeta | None = open_group("g1", "slack", {"metric": "cpu"}, TIMING, START)
        self.alerts: dict[str, Alert] = {}

    def add(self, event_kwargs: dict[str, Any], now: float) -> bool:
        event = anomaly(**event_kwargs)
        alert, news = apply_anomaly(
            self.alerts.get(fingerprint(event.resource_id, event.metric)), event
        )
        self.alerts[alert.fingerprint] = alert
        if news:
            assert self.meta is not None
            self.meta = schedule_change(self.meta, now)
        return news

    def flush(self, now: float, silenced: bool = False) -> FlushPlan:
        assert self.meta is not None
        plan = plan_flush(self.meta, self.alerts, now, silenced=lambda a: silenced, alert_ttl_s=TTL)
        for fp in plan.delete:
            self.alerts.pop(fp, None)
        self.alerts.update(plan.write)
        self.meta = plan.meta
        return plan


def test_a_new_group_waits_group_wait_then_tells_everything_it_collected() -> None:
    group = Group()
    group.add({"resource_id": "web-1"}, START)
    group.add({"resource_id": "web-2"}, START + 3)
    early = group.flush(START + 5)
    assert not early.speaks
    assert group.meta is not None and group.meta.next_flush_at == START + 10
    plan = group.flush(START + 10)
    assert sorted(a.resource_id for a in plan.firing) == ["web-1", "web-2"]
    assert group.meta is not None and group.meta.last_notified_at == START + 10


def test_repeats_of_one_alert_are_one_alert_and_no_news() -> None:
    group = Group()
    group.add({"at": T0}, START)
    group.flush(START + 10)
    news = group.add({"at": T0 + timedelta(seconds=30), "value": 98.0}, START + 30)
    assert news is False
    (alert,) = group.alerts.values()
    assert alert.occurrences == 2 and alert.value == 98.0
    assert not group.flush(START + 80).speaks


def test_a_redelivered_event_changes_nothing() -> None:
    group = Group()
    group.add({}, START)
    before = dict(group.alerts)
    assert group.add({}, START + 1) is False
    assert group.alerts == before


def test_changes_after_a_message_wait_for_group_interval() -> None:
    group = Group()
    group.add({"resource_id": "web-1"}, START)
    group.flush(START + 10)
    assert group.add({"resource_id": "web-2"}, START + 20) is True
    assert group.meta is not None and group.meta.next_flush_at == START + 70
    assert not group.flush(START + 40).speaks
    plan = group.flush(START + 70)
    assert [a.resource_id for a in plan.firing] == ["web-2"]


def test_a_group_speaks_at_the_moment_its_interval_is_counted_from() -> None:
    group = Group()
    group.add({"resource_id": "web-1"}, START)
    assert group.flush(START + 4).spoke_at is None  # still collecting: says nothing
    assert group.flush(START + 10).spoke_at == START + 10
    group.add({"resource_id": "web-2"}, START + 20)
    assert group.flush(START + 40).spoke_at is None  # holding for the group interval
    assert group.flush(START + 70).spoke_at == START + 70
    assert group.meta is not None and group.meta.last_notified_at == START + 70


def test_an_escalation_is_news_and_says_so() -> None:
    group = Group()
    group.add({"severity": Severity.HIGH}, START)
    group.flush(START + 10)
    news = group.add({"severity": Severity.CRITICAL, "at": T0 + timedelta(minutes=15)}, START + 900)
    assert news is True
    plan = group.flush(START + 900)
    (alert,) = plan.firing
    assert alert.severity == Severity.CRITICAL
    assert alert.notified_severity == Severity.HIGH  # what the message compares against


def test_unacknowledged_firing_alerts_repeat_after_repeat_interval() -> None:
    group = Group()
    group.add({}, START)
    group.flush(START + 10)
    assert group.meta is not None and group.meta.next_flush_at == START + 10 + 3600
    plan = group.flush(START + 3610)
    assert plan.repeat and len(plan.firing) == 1


def test_an_acknowledged_alert_is_not_repeated() -> None:
    group = Group()
    group.add({}, START)
    group.flush(START + 10)
    fp, alert = next(iter(group.alerts.items()))
    group.alerts[fp] = alert.model_copy(update={"acknowledged_by": "ana"})
    plan = group.flush(START + 3610)
    assert not plan.speaks and not plan.repeat


def test_a_resolution_is_told_once_then_the_group_ends() -> None:
    group = Group()
    event = anomaly()
    group.add({}, START)
    group.flush(START + 10)
    fp = next(iter(group.alerts))
    group.alerts[fp], news = apply_resolution(group.alerts[fp], resolved(event))
    assert news
    assert group.meta is not None
    group.meta = schedule_change(group.meta, START + 30)
    plan = group.flush(START + 70)
    assert [a.resource_id for a in plan.resolved] == ["web-1"] and not plan.firing
    assert plan.meta is None and group.alerts == {}


def test_an_alert_resolved_before_its_first_message_is_told_once_with_its_resolution() -> None:
    group = Group()
    group.add({}, START)
    fp = next(iter(group.alerts))
    group.alerts[fp], _ = apply_resolution(group.alerts[fp], resolved(anomaly(), after_s=5))
    plan = group.flush(START + 10)
    (alert,) = plan.firing
    assert alert.resolution is not None and not plan.resolved
    assert plan.meta is None


def test_a_decision_is_folded_only_into_an_alert_not_yet_told() -> None:
    group = Group()
    group.add({}, START)
    fp = next(iter(group.alerts))
    decision = Decision(status=RemediationStatus.DRY_RUN, summary="Dry run", event_id="e1")
    folded = apply_decision(group.alerts[fp], decision)
    assert folded is not None and folded.decision == decision
    group.alerts[fp] = folded
    plan = group.flush(START + 10)
    assert plan.firing[0].decision == decision
    assert apply_decision(group.alerts[fp], decision) is None


def test_silenced_alerts_are_marked_told_without_a_message() -> None:
    group = Group()
    group.add({}, START)
    plan = group.flush(START + 10, silenced=True)
    assert not plan.speaks
    assert all(a.notified_severity is not None for a in group.alerts.values())


def test_alerts_without_news_for_the_ttl_are_forgotten() -> None:
    group = Group()
    group.add({}, START)
    group.flush(START + 10)
    plan = group.flush(START + TTL + 60)
    assert plan.meta is None and plan.delete


def test_a_message_measures_latency_from_the_sample_that_made_it_news() -> None:
    group = Group()
    group.add({"severity": Severity.HIGH, "at": T0}, START)
    later = T0 + timedelta(seconds=5)
    group.add({"severity": Severity.HIGH, "at": later, "value": 98.0}, START + 5)
    (first,) = group.flush(START + 10).firing
    assert first.observed_at == T0  # the message answers the first event
    escalation = T0 + timedelta(minutes=15)
    group.add({"severity": Severity.CRITICAL, "at": escalation}, START + 900)
    (escalated,) = group.flush(START + 900).firing
    assert escalated.observed_at == escalation

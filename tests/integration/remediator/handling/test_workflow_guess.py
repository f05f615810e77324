"""A worker takes most decisions with one script less, on the guess that the rules version and
the rules in shadow mode are as its last decision read them and that the resource has no other
recent anomaly. A guess that does not hold must change nothing: the decision is the one taken
step by step, with the other recent anomalies, the rules published since and the rules
switched to shadow mode since."""

from __future__ import annotations

from datetime import timedelta

from services.remediator.stores import redis_keys
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
rules:
  - name: cpu-and-latency
    match: {metric: cpu_*, also_anomalous: [latency_*]}
    actions: [{action: restart_service, params: {service: nginx}}]
  - name: cpu
    match: {metric: cpu_*, severity_at_least: high}
    actions: [{action: restart_service, params: {service: app}}]
"""


def published(harness: HarnessFactory, rules: str = RULES) -> Harness:
    h = harness(rules, dry_run=True)
    h.remediator.rules.load_and_publish()  # as the API does at start-up
    return h


def test_decisions_after_the_first_are_the_same_with_one_script_less(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = published(harness)
    first = h.workflow.handle(anomaly(resource_id="web-1"))
    second = h.workflow.handle(anomaly(resource_id="web-2"))
    assert first is not None and second is not None
    assert [(r.status, r.rule, r.resource_id) for r in (first, second)] == [
        (RemediationStatus.DRY_RUN, "cpu", "web-1"),
        (RemediationStatus.DRY_RUN, "cpu", "web-2"),
    ]
    assert h.client.zrange(redis_keys.recent("web-2"), 0, -1) == [b"cpu_utilization"]
    assert h.workflow.handle(anomaly(resource_id="web-2")) is None  # a redelivery: nothing
    assert len(h.records()) == 2


def test_another_recent_anomaly_on_the_resource_is_seen(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = published(harness)
    h.workflow.handle(anomaly(resource_id="web-1"))
    latency = anomaly(resource_id="web-2", metric="latency_p99")
    assert h.workflow.handle(latency) is not None  # no rule for latency: recorded, nothing done
    cpu = anomaly(resource_id="web-2", observed_at=latency.observed_at + timedelta(seconds=5))
    record = h.workflow.handle(cpu)
    assert record is not None
    assert (record.status, record.rule) == (RemediationStatus.DRY_RUN, "cpu-and-latency")
    assert "also anomalous: latency_p99" in record.reason
    assert [r.rule for r in h.records() if r.anomaly_id == cpu.event_id] == ["cpu-and-latency"]


def test_rules_published_since_the_last_decision_are_the_ones_used(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = published(harness)
    h.workflow.handle(anomaly(resource_id="web-1"))
    # The API publishes other rules (another process, so this worker's engine is the old one).
    published(harness, RULES.replace("name: cpu\n", "name: cpu-renamed\n"))
    record = h.workflow.handle(anomaly(resource_id="web-2"))
    assert record is not None and record.rule == "cpu-renamed"
    claims = h.client.keys(redis_keys.claim(record.anomaly_id, "*"))
    assert claims == [redis_keys.claim(record.anomaly_id, "restart_service").encode()]


def test_a_rule_switched_to_shadow_mode_since_the_last_decision_only_proposes(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = published(harness)
    h.workflow.handle(anomaly(resource_id="web-1"))
    demoted = h.remediator.auto_shadow.count_not_improved("cpu", "run-1", after=1, window_s=3600)
    assert demoted is not None
    cpu = anomaly(resource_id="web-2")
    record = h.workflow.handle(cpu)
    assert record is not None and record.status == RemediationStatus.NO_ACTION
    assert "switched to shadow mode" in record.reason
    statuses = [(r.status, r.shadow) for r in h.records() if r.anomaly_id == cpu.event_id]
    assert statuses == [(RemediationStatus.PROPOSED, True), (RemediationStatus.NO_ACTION, False)]

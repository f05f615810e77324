"""``POST /remediation/test`` sends a synthetic anomaly through the whole path in dry-run: it
must never act, not even once a debounced rule's time is up, and it must not count towards
the debounce streak real anomalies of the same series build."""

from __future__ import annotations

from datetime import timedelta

from services.remediator.aws.session import AwsApi
from services.remediator.handling.evaluation import synthetic_anomaly
from shared.events import RemediationStatus, Severity, utcnow
from tests.integration.remediator.conftest import HarnessFactory
from tests.support.aws_fleet import instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

LASTING = """\
version: 1
rules:
  - name: cpu-lasting
    match: {metric: cpu_*, severity_at_least: high}
    for: 5m
    actions: [{action: restart_service, params: {service: app}}]
"""

REPEATED = """\
version: 1
rules:
  - name: cpu-repeated
    match: {metric: cpu_*, severity_at_least: high}
    for_samples: 3
    actions: [{action: restart_service, params: {service: app}}]
"""


def test_a_synthetic_anomaly_on_a_debounced_rule_never_acts(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws, tags={"Name": "web"})
    h = harness(LASTING, aws_url=aws_url)
    test = synthetic_anomaly(instance, "cpu_utilization", Severity.CRITICAL, "cid")
    h.workflow.handle(test, dry_run=True)
    # Whatever a dry-run decision says about the wait, what follows it stays dry: a re-check
    # (scheduled, or sent again by the sweep) does not act on it.
    rechecks = [(event, rule) for event, rule, _delay in h.work.rechecks]
    for event, rule in [*rechecks, (test, "cpu-lasting")]:
        record = h.workflow.recheck(event, rule)
        assert record is None or record.status in (
            RemediationStatus.DRY_RUN,
            RemediationStatus.PROPOSED,
            RemediationStatus.NO_ACTION,
        )
    h.run_polls()
    assert sent_commands(aws) == []
    assert not any(
        r.status in (RemediationStatus.RUNNING, RemediationStatus.SUCCEEDED) for r in h.records()
    )
    assert h.remediator.safety.counters()["actions_this_hour"] == 0


def test_synthetic_anomalies_do_not_count_towards_a_real_streak(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(REPEATED, dry_run=True)
    start = utcnow() - timedelta(minutes=2)
    for n in range(2):
        test = synthetic_anomaly("web-1", "cpu_utilization", Severity.CRITICAL, f"cid-{n}")
        test = test.model_copy(update={"observed_at": start + timedelta(seconds=10 * n)})
        h.workflow.handle(test, dry_run=True)
    real = h.workflow.handle(
        anomaly(resource_id="web-1", observed_at=start + timedelta(seconds=30))
    )
    assert real is not None
    assert (real.status, real.blocked_by) == (RemediationStatus.PROPOSED, "debounce")
    assert "3 anomaly events (so far 1)" in real.reason


def test_self_tests_seen_by_a_shadow_rule_do_not_count_once_it_is_live(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    """A rule watched in shadow mode and then made live (rules reload) keeps its streak:
    self-tests run while it was in shadow must not be part of it."""
    h = harness(
        REPEATED.replace("  - name: cpu-repeated\n", "  - name: cpu-repeated\n    mode: shadow\n")
    )
    start = utcnow() - timedelta(minutes=2)
    for n in range(2):
        test = synthetic_anomaly("web-1", "cpu_utilization", Severity.CRITICAL, f"cid-{n}")
        test = test.model_copy(update={"observed_at": start + timedelta(seconds=10 * n)})
        h.workflow.handle(test, dry_run=True)
    h.remediator.settings.rules_path.write_text(REPEATED)
    h.remediator.rules.load_and_publish()
    real = h.workflow.handle(
        anomaly(resource_id="web-1", observed_at=start + timedelta(seconds=30))
    )
    assert real is not None
    assert (real.status, real.blocked_by) == (RemediationStatus.PROPOSED, "debounce")
    assert "3 anomaly events (so far 1)" in real.reason


TOGETHER = """\
version: 1
rules:
  - name: cpu-with-memory
    match: {metric: cpu_*, severity_at_least: high, also_anomalous: ["memory_*"]}
    actions: [{action: restart_service, params: {service: app}}]
"""


def test_a_synthetic_anomaly_is_not_what_else_is_anomalous_on_a_resource(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(TOGETHER, dry_run=True)
    test = synthetic_anomaly("web-1", "memory_utilization", Severity.CRITICAL, "cid")
    h.workflow.handle(test, dry_run=True)
    real = h.workflow.handle(anomaly(resource_id="web-1", observed_at=test.observed_at))
    assert real is not None and real.status == RemediationStatus.NO_ACTION

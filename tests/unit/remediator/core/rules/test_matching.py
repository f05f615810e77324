"""The remediation engine: matching, order, shadow rules, context, targets, risk and approval."""

from __future__ import annotations

import pytest

from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.risk import Risk
from services.remediator.core.rules.loading import load_rules_file, load_rules_text
from services.remediator.core.rules.matching import EngineContext, RemediationEngine
from services.remediator.core.targets import Target
from shared.events import Severity
from tests.support.remediator_fixtures import RULES, AnomalyFactory

RULES_TEXT = """\
version: 1
policy:
  critical_labels: {criticality: production-critical}
  critical_approvals_required: 2
rules:
  - name: watch-new-cpu
    mode: shadow
    match: {metric: cpu_*, severity_at_least: medium}
    actions: [{action: enhance_monitoring}]
  - name: cpu-scale
    match: {metric: cpu_*, severity_at_least: high, labels: {team: web*}}
    actions:
      - action: scale_out
        target: {auto_scaling_group: "{label:asg}"}
      - action: restart_service
        params: {service: "{label:service|app}"}
  - name: cpu-any
    match: {metric: cpu_*, severity_at_least: high}
    actions: [{action: restart_service, params: {service: app}}]
  - name: disk-with-io
    match: {metric: disk_*, also_anomalous: ["io_*", "iops"], min_score: 0.9}
    actions: [{action: cleanup_disk}]
  - name: scale-in-risky
    match: {metric: idle_*, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
"""


@pytest.fixture
def engine(registry: ActionRegistry) -> RemediationEngine:
    return RemediationEngine(load_rules_text(RULES_TEXT, "t.yaml", registry), registry)


def test_the_first_live_rule_acts_and_shadow_rules_are_reported(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    result = engine.evaluate(anomaly(labels={"team": "web-front", "asg": "web-asg"}))
    assert result.live is not None
    assert result.live.rule.name == "cpu-scale"
    assert [s.rule.name for s in result.shadow] == ["watch-new-cpu"]
    assert result.shadow[0].shadow
    scale, restart = result.live.candidates
    assert scale.target == Target.for_group("web-asg")
    assert restart.target == Target.for_tags({"Name": "web-1"})
    assert restart.params is not None and restart.params.service == "app"
    assert result.live.reason.startswith("critical anomaly on cpu_utilization: 97 (expected 20")


def test_an_unresolvable_candidate_says_why(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    result = engine.evaluate(anomaly(labels={"team": "web", "service": "nginx"}))
    assert result.live is not None
    scale, restart = result.live.candidates
    assert not scale.ready
    assert scale.error == "the anomaly has no label 'asg' for '{label:asg}'"
    assert restart.ready
    assert restart.params is not None and restart.params.service == "nginx"


def test_labels_select_rules(engine: RemediationEngine, anomaly: AnomalyFactory) -> None:
    result = engine.evaluate(anomaly(resource_id="i-0123456789abcdef0"))
    assert result.live is not None
    assert result.live.rule.name == "cpu-any"
    assert result.live.candidates[0].target == Target.for_instances("i-0123456789abcdef0")


def test_below_every_rule_the_reason_names_the_threshold(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    result = engine.evaluate(anomaly(severity=Severity.LOW))
    assert result.live is None
    assert result.no_match_reason.startswith("severity low is below medium")
    assert engine.evaluate(anomaly(metric="queue_depth")).no_match_reason == (
        "no rule covers metric queue_depth"
    )


def test_context_what_else_is_anomalous(engine: RemediationEngine, anomaly: AnomalyFactory) -> None:
    disk = anomaly(metric="disk_used_percent")
    alone = engine.evaluate(disk)
    assert alone.live is None
    assert "needs one of io_*, iops anomalous too" in alone.no_match_reason
    together = engine.evaluate(disk, EngineContext(frozenset({"iops", "disk_used_percent"})))
    assert together.live is not None
    assert "also anomalous: iops" in together.live.reason
    low_score = engine.evaluate(
        anomaly(metric="disk_x", score=0.5), EngineContext(frozenset({"iops"}))
    )
    assert "needs a score of 0.9" in low_score.no_match_reason


def test_risk_and_approval(engine: RemediationEngine, anomaly: AnomalyFactory) -> None:
    restart = engine.evaluate(anomaly())
    assert restart.live is not None
    assert restart.live.risk == Risk.MEDIUM
    assert not restart.live.approval.required
    scale_in = engine.evaluate(anomaly(metric="idle_ratio", severity=Severity.LOW))
    assert scale_in.live is not None
    assert scale_in.live.risk == Risk.HIGH
    assert scale_in.live.approval.required
    assert scale_in.live.approval.approvals == 1
    critical = engine.evaluate(anomaly(labels={"criticality": "production-critical"}))
    assert critical.live is not None
    assert critical.live.approval.required
    assert critical.live.approval.approvals == 2
    assert "production-critical" in critical.live.approval.why


def test_the_shipped_rules_in_a_few_situations(
    registry: ActionRegistry, anomaly: AnomalyFactory
) -> None:
    engine = RemediationEngine(load_rules_file(RULES, registry), registry)
    cpu = engine.evaluate(anomaly())
    assert cpu.live is not None
    assert cpu.live.rule.name == "cpu-critical"
    assert cpu.live.candidates[0].action == "restart_service"
    assert not cpu.live.rule.debounced
    high = engine.evaluate(anomaly(severity=Severity.HIGH))
    assert high.live is not None and high.live.rule.debounced
    errors = engine.evaluate(
        anomaly(metric="error_rate"), EngineContext(frozenset({"memory_utilization"}))
    )
    assert errors.live is None
    assert [s.rule.name for s in errors.shadow] == ["error-rate-critical"]
    assert errors.shadow[0].approval.required


def test_the_reason_claims_no_expected_range_for_an_alertmanager_alert(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    """An alert posted to the gateway has no band (its value is both bounds): the reason
    read "97.2 (expected 97.2 to 97.2, ...)", a value inside the range it broke."""
    alert = anomaly(value=97.2, expected_low=97.2, expected_high=97.2, detectors=["alertmanager"])
    result = engine.evaluate(alert)
    assert result.live is not None
    assert result.live.reason.startswith("critical anomaly on cpu_utilization: 97.2 (score ")
    assert "expected" not in result.live.reason


def test_the_reason_says_no_value_for_an_alert_posted_without_one(
    engine: RemediationEngine, anomaly: AnomalyFactory
) -> None:
    """An alert without a `value` annotation has none: the reason read "...: 1 (score ...)"
    as if 1 had been measured."""
    alert = anomaly(
        value=0.0, expected_low=0.0, expected_high=0.0, detectors=["alertmanager"]
    ).model_copy(update={"value_given": False})
    result = engine.evaluate(alert)
    assert result.live is not None
    reason = result.live.reason
    assert reason.startswith("critical anomaly on cpu_utilization: no value given (score "), reason

"""Post-action verification and the group blast radius in the rules file, the verdicts of a
verification, and rules switched to shadow mode, without I/O."""

from __future__ import annotations

import pytest

from services.remediator.aws.group_share import GroupShare
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.judgement import Observation, judge
from services.remediator.core.rules.loading import load_rules_file, load_rules_text
from services.remediator.core.rules.matching import EngineContext, RemediationEngine
from services.remediator.core.verify import Verify
from services.remediator.errors import RulesFileError
from shared.events import RemediationStatus
from tests.support.remediator_fixtures import RULES, AnomalyFactory

RULES_TEXT = """\
version: 1
policy:
  verify: {within: 10m}
  auto_shadow: {after: 2, window: 1h}
rules:
  - name: cpu
    match: {metric: cpu_*}
    verify: {within: 5m, back_below: 80, samples: 2}
    blast_radius: {max_percent: 25}
    actions: [{action: restart_service, params: {service: app}}]
  - name: disk
    match: {metric: disk_*}
    actions: [{action: cleanup_disk}]
  - name: net
    match: {metric: net_*}
    verify: off
    actions: [{action: cleanup_disk}]
"""


def test_rules_say_what_is_verified_and_the_policy_gives_the_default(
    registry: ActionRegistry,
) -> None:
    rules = load_rules_text(RULES_TEXT, "rules.yaml", registry).rules
    cpu, disk, net = rules.rules
    assert cpu.verification(rules.policy) == Verify(within=300, back_below=80, samples=2)
    assert disk.verification(rules.policy) == Verify(within=600, back_to_normal=True)
    assert net.verification(rules.policy) is None
    assert rules.policy.auto_shadow and rules.policy.auto_shadow.after == 2
    assert cpu.blast_radius is not None and cpu.blast_radius.group == "{label:asg}"
    shipped = load_rules_file(RULES, registry).rules
    assert shipped.policy.verify and shipped.policy.verify.within == 600


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ("verify: {back_below: 80, back_to_normal: true}", "rules[0].verify", "not both"),
        ("verify: {back_to_normal: false}", "rules[0].verify", "what counts as improved"),
        ("verify: {within: 0s}", "rules[0].verify.within", "longer than 0s"),
        ("verify: {metric: '9 lives'}", "rules[0].verify.metric", "not a metric name"),
        ("blast_radius: {window: 1h}", "rules[0].blast_radius", "max_targets, max_percent"),
        ("blast_radius: {max_percent: 150}", "rules[0].blast_radius.max_percent", "100"),
    ],
)
def test_bad_verification_and_blast_radius_are_refused_at_their_line(
    registry: ActionRegistry, change: str, path: str, words: str
) -> None:
    if change.startswith("blast_radius"):
        text = RULES_TEXT.replace("blast_radius: {max_percent: 25}", change)
    else:
        text = RULES_TEXT.replace("verify: {within: 5m, back_below: 80, samples: 2}", change)
    with pytest.raises(RulesFileError) as info:
        load_rules_text(text, "rules.yaml", registry)
    problem = info.value.problems[0]
    assert problem.path.startswith(path), problem
    assert words in problem.reason
    assert problem.line in (8, 9), problem


def test_a_demoted_rule_is_evaluated_as_shadow_and_the_next_live_rule_acts(
    registry: ActionRegistry, anomaly: AnomalyFactory
) -> None:
    two = RULES_TEXT.replace(
        "  - name: disk\n    match: {metric: disk_*}", "  - name: disk\n    match: {metric: cpu_*}"
    )
    engine = RemediationEngine(load_rules_text(two, "rules.yaml", registry), registry)
    plain = engine.evaluate(anomaly())
    assert plain.live is not None and plain.live.rule.name == "cpu" and plain.shadow == ()
    demoted = engine.evaluate(anomaly(), EngineContext(demoted=frozenset({"cpu"})))
    assert demoted.live is not None and demoted.live.rule.name == "disk"
    (shadow,) = demoted.shadow
    assert shadow.rule.name == "cpu" and shadow.shadow and shadow.demoted


T0 = 1_800_000_000_000


def seen(**changes: object) -> Observation:
    values: dict[str, object] = {"since_ms": T0, "now_ms": T0 + 90_000, "due_ms": T0 + 600_000}
    values.update(changes)
    return Observation(**values)  # type: ignore[arg-type]


def test_a_resolution_after_the_action_verifies_it_at_once() -> None:
    plan = Verify(metric="cpu")
    verdict = judge(plan, seen(resolved_ms=T0 + 60_000), action="restart_service")
    assert verdict.outcome == RemediationStatus.VERIFIED
    assert verdict.reason == (
        "cpu back to normal 1m30s after restart_service: the detector resolved the anomaly"
    )
    # A resolution from before the action says nothing about it.
    before = judge(plan, seen(resolved_ms=T0 - 1), action="restart_service")
    assert before.outcome is None


def test_samples_back_below_the_value_verify_it() -> None:
    plan = Verify(metric="cpu", back_below=80, samples=2)
    assert judge(plan, seen(samples=(95.0, 70.0)), action="a").outcome is None
    verdict = judge(plan, seen(samples=(95.0, 72.0, 70.5)), action="a")
    assert verdict.outcome == RemediationStatus.VERIFIED and verdict.value == 70.5
    assert verdict.reason == "cpu back below 80 1m30s after a (latest 70.5)"
    # back_below ignores resolutions: only the value counts.
    assert judge(plan, seen(resolved_ms=T0 + 1), action="a").outcome is None


def test_samples_back_in_the_expected_range_verify_back_to_normal() -> None:
    plan = Verify(metric="cpu")
    verdict = judge(plan, seen(samples=(31.0,)), action="a", expected=(20.0, 50.0))
    assert verdict.outcome == RemediationStatus.VERIFIED
    assert "cpu back in its expected range 20 to 50 1m30s after a" in verdict.reason
    assert judge(plan, seen(samples=(31.0,)), action="a").outcome is None  # no range known


def test_time_up_without_improvement_is_not_improved() -> None:
    plan = Verify(metric="cpu", back_below=80, within=600)
    late = seen(now_ms=T0 + 600_000, samples=(97.0, 96.5))
    verdict = judge(plan, late, action="restart_service")
    assert verdict.outcome == RemediationStatus.NOT_IMPROVED and verdict.value == 96.5
    assert verdict.reason == "cpu not back below 80 within 10m of restart_service (latest 96.5)"
    silent = judge(Verify(metric="cpu"), seen(now_ms=T0 + 600_000), action="a")
    assert silent.outcome == RemediationStatus.NOT_IMPROVED and silent.value is None
    assert "no sample of cpu since a" in silent.reason


def test_the_group_share_allows_at_least_one_instance() -> None:
    assert GroupShare("web", 8, 25, ("i-1",)).max_instances == 2
    assert GroupShare("web", 10, 25, ("i-1",)).max_instances == 2
    assert GroupShare("web", 3, 10, ("i-1",)).max_instances == 1
    assert GroupShare("web", 20, 100, ("i-1",)).max_instances == 20

"""What verification trusts (no I/O): the detector's resolution and the samples are the
metric's word; an alert's resolution is its sender's, which never verifies anything."""

from __future__ import annotations

from services.remediator.core.judgement import Observation, judge
from services.remediator.core.verify import Verify
from shared.events import RemediationStatus

T0 = 1_000_000
PLAN = Verify(metric="HighCPU", within=600)


def seen(**values: object) -> Observation:
    base: dict[str, object] = {"since_ms": T0, "now_ms": T0 + 90_000, "due_ms": T0 + 600_000}
    return Observation(**{**base, **values})  # type: ignore[arg-type]


def test_an_alerts_resolution_never_verifies_while_time_remains() -> None:
    assert judge(PLAN, seen(alert_resolved_ms=T0 + 1), action="a").outcome is None


def test_with_no_metric_an_alerts_resolution_is_recorded_as_unverified() -> None:
    verdict = judge(PLAN, seen(now_ms=T0 + 600_000, alert_resolved_ms=T0 + 1), action="a")
    assert verdict.outcome == RemediationStatus.UNVERIFIED
    assert verdict.reason.startswith("unverified: no sample of HighCPU since a to judge by")


def test_the_metric_outweighs_an_alerts_resolution() -> None:
    late = seen(now_ms=T0 + 600_000, alert_resolved_ms=T0 + 1, samples=(97.0,))
    verdict = judge(PLAN, late, action="a", expected=(20.0, 50.0))
    assert verdict.outcome == RemediationStatus.NOT_IMPROVED


def test_an_alerts_resolution_from_before_the_action_says_nothing() -> None:
    verdict = judge(PLAN, seen(now_ms=T0 + 600_000, alert_resolved_ms=T0 - 1), action="a")
    assert verdict.outcome == RemediationStatus.NOT_IMPROVED

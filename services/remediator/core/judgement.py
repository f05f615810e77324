"""Deciding a verification from what was seen since the action (no I/O).

Improved (``verified``) as soon as either the detector resolved the watched series after the
action started (``back_to_normal``), or the latest ``samples`` samples since the action are
back: below ``back_below``, or, for ``back_to_normal`` on the anomaly's own metric, inside the
range the detector expected. Not improved (``not_improved``) when the time is up without that;
no sample at all since the action counts as not improved (nothing shows it got better).

Only the detector's resolution counts as the metric's word. An alert's resolution (an
Alertmanager alert posted to the gateway, ``alert_resolved_ms``, noted only for the action that
answered that very alert) is its sender's say-so: it never verifies; when the time is up with no
sample at all to judge by, it makes the outcome ``unverified`` instead of ``not_improved``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.remediator.core.durations import format_duration
from services.remediator.core.verify import Verify
from shared.events import RemediationStatus
from shared.readable_numbers import numbers_apart


@dataclass(frozen=True)
class Observation:
    since_ms: int  # when the action started (Redis server clock)
    now_ms: int
    due_ms: int
    resolved_ms: int | None = None  # the detector's latest resolution of the series
    alert_resolved_ms: int | None = None  # the answered alert's source said it resolved
    samples: Sequence[float] = ()  # values observed since the action, oldest first

    @property
    def elapsed(self) -> str:
        return format_duration(max(round((self.now_ms - self.since_ms) / 1000), 0))


@dataclass(frozen=True)
class Judgement:
    outcome: RemediationStatus | None  # VERIFIED, NOT_IMPROVED, or None: look again later
    reason: str = ""
    value: float | None = None


LOOK_AGAIN = Judgement(None)


def judge(
    plan: Verify,
    seen: Observation,
    *,
    action: str,
    expected: tuple[float, float] | None = None,
) -> Judgement:
    """``expected``: the range the detector expected for the anomaly's metric, when the plan
    watches that metric."""
    latest = seen.samples[-1] if seen.samples else None
    resolved = seen.resolved_ms is not None and seen.resolved_ms >= seen.since_ms
    if plan.back_below is None and resolved:
        return Judgement(
            RemediationStatus.VERIFIED,
            f"{plan.metric} back to normal {seen.elapsed} after {action}: the detector "
            "resolved the anomaly",
            latest,
        )
    test = _test(plan, expected)
    recent = list(seen.samples[-plan.samples :])
    if test is not None and len(recent) >= plan.samples and all(test.holds(v) for v in recent):
        return Judgement(
            RemediationStatus.VERIFIED,
            f"{plan.metric} back {test.wanted} {seen.elapsed} after {action} (latest {latest:g})",
            latest,
        )
    if seen.now_ms < seen.due_ms:
        return LOOK_AGAIN
    within = format_duration(plan.within)
    wanted = test.wanted if test is not None else "to normal"
    alert_resolved = seen.alert_resolved_ms is not None and seen.alert_resolved_ms >= seen.since_ms
    if latest is None and alert_resolved:
        return Judgement(
            RemediationStatus.UNVERIFIED,
            f"unverified: no sample of {plan.metric} since {action} to judge by; the alert's "
            "source reported it resolved, which is its word, not a measurement",
        )
    if latest is None:
        return Judgement(
            RemediationStatus.NOT_IMPROVED,
            f"no sample of {plan.metric} since {action} and no resolution within {within}: "
            "nothing shows it improved",
        )
    return Judgement(
        RemediationStatus.NOT_IMPROVED,
        f"{plan.metric} not back {wanted} within {within} of {action} (latest {latest:g})",
        latest,
    )


@dataclass(frozen=True)
class _Test:
    """What a sample must be to count as improved, and how a record says it."""

    holds: Callable[[float], bool]
    wanted: str


def _test(plan: Verify, expected: tuple[float, float] | None) -> _Test | None:
    if plan.back_below is not None:
        limit = plan.back_below
        return _Test(lambda v: v < limit, f"below {limit:g}")
    if expected is not None:
        low, high = expected
        shown_low, shown_high = numbers_apart(low, high)
        return _Test(
            lambda v: low <= v <= high, f"in its expected range {shown_low} to {shown_high}"
        )
    return None

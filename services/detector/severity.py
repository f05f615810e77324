"""Severity of an anomaly: from the calibrated score, the metric's hard limits, and how long
the anomaly has lasted (no I/O).

- The score bands map the calibrated score (see ``scoring/config.py``; the default alarm
  threshold 0.4 is about a one-in-10,000 event for one sub-detector) to low / medium / high /
  critical.
- A hard limit (e.g. ``disk_used_percent >= 95``) sets a floor on severity whatever the model
  thinks, and opens an anomaly even while the series is still warming up.
- An anomaly is raised one level for each whole ``escalate_after_s`` it has lasted, counted
  from the severity its samples showed (at most to ``high``: only the score or a hard limit can
  make an anomaly critical). So with 15 minutes, a ``low`` anomaly is ``medium`` after 15
  minutes and ``high`` after 30, not ``high`` one sample after the first 15.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import Severity


class HardLimit(BaseModel):
    """``metric`` (a glob) at or beyond ``above``/``below`` is at least ``severity``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str = Field(examples=["disk_used_percent"])
    above: float | None = None
    below: float | None = None
    severity: Literal["low", "medium", "high", "critical"]

    def breached(self, metric: str, value: float) -> bool:
        if not fnmatch.fnmatchcase(metric, self.metric):
            return False
        return (self.above is not None and value >= self.above) or (
            self.below is not None and value <= self.below
        )


MAGNITUDE_DETECTORS = frozenset({"out_of_range", "spike"})

DEFAULT_HARD_LIMITS: tuple[HardLimit, ...] = (
    HardLimit(metric="disk*_percent", above=95, severity="critical"),
    HardLimit(metric="disk*_percent", above=90, severity="high"),
    HardLimit(metric="memory*_percent", above=97, severity="high"),
    HardLimit(metric="memory_utilization", above=97, severity="high"),
)


@dataclass(frozen=True)
class SeverityPolicy:
    # (lowest score, severity), highest first; scores below the last band are "low" when the
    # detector alarmed at all (its threshold may be configured below 0.6).
    score_bands: tuple[tuple[float, Severity], ...] = (
        (0.85, Severity.CRITICAL),
        (0.7, Severity.HIGH),
        (0.6, Severity.MEDIUM),
    )
    hard_limits: tuple[HardLimit, ...] = field(default=DEFAULT_HARD_LIMITS)
    escalate_after_s: float = 900.0
    # An alarm raised only by the magnitude detectors (out_of_range, spike) pages only when the
    # value is at least this many typical deviations from the baseline: a new extreme of plain
    # noise is not worth waking anyone (0 turns the gate off).
    page_min_deviation: float = 6.0
    _matching: dict[str, tuple[HardLimit, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def worth_paging(
        self, detectors: tuple[str, ...], value: float, low: float, high: float, band: float
    ) -> bool:
        if not self.page_min_deviation or not set(detectors) <= MAGNITUDE_DETECTORS:
            return True
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            return True
        typical = (high - low) / (2 * band)
        return abs(value - (low + high) / 2) >= self.page_min_deviation * typical

    def from_score(self, score: float) -> Severity:
        for floor, severity in self.score_bands:
            if score >= floor:
                return severity
        return Severity.LOW

    def limits_for(self, metric: str) -> tuple[HardLimit, ...]:
        """The hard limits whose pattern matches ``metric`` (cached: patterns are fixed)."""
        found = self._matching.get(metric)
        if found is None:
            found = tuple(
                limit for limit in self.hard_limits if fnmatch.fnmatchcase(metric, limit.metric)
            )
            if len(self._matching) < 100_000:
                self._matching[metric] = found
        return found

    def hard_limit(self, metric: str, value: float) -> Severity | None:
        worst: Severity | None = None
        for limit in self.limits_for(metric):
            if limit.breached(metric, value):
                severity = Severity(limit.severity)
                if worst is None or severity.rank > worst.rank:
                    worst = severity
        return worst

    def with_duration(self, severity: Severity, lasted_s: float) -> Severity:
        """``severity`` raised one level per whole ``escalate_after_s`` of ``lasted_s``, at
        most to ``high``. ``severity`` must be what the samples showed, never a severity this
        already raised: raising a raised one again climbs a level per sample."""
        if lasted_s < self.escalate_after_s or severity.rank >= Severity.HIGH.rank:
            return severity
        periods = int(lasted_s // self.escalate_after_s)
        return list(Severity)[min(severity.rank + periods, Severity.HIGH.rank)]

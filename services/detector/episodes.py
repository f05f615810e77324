"""Anomaly episodes of one series: when to raise an event, escalate it, and resolve it.

An episode opens on an alarm (or a hard limit) and raises one event. While it lasts, another
event is raised only when its severity rises: because a sample showed a worse severity, or
because the episode has lasted another escalation period (``SeverityPolicy.with_duration``,
applied to the worst severity the samples themselves showed, so each period raises one level
and not each sample after the first period). It resolves after ``resolve_after`` consecutive
samples that are normal (no alarm, no hard limit, inside the expected range), which raises an
``anomaly.resolved`` event. So a sustained condition pages once, not once per sample.

An episode is named by its series and the sample that opened it; the ids of its escalations and
its resolution are derived from that name (``engine.event_id``), so replaying the same samples
publishes the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.events import Severity


@dataclass(slots=True)
class Episode:
    anomaly_id: uuid.UUID
    started_at: float  # epoch seconds of the opening sample
    severity: Severity  # as published: ``shown``, raised by the episode's duration
    shown: Severity  # the worst severity its samples showed by themselves
    normal_streak: int = 0

    def to_state(self) -> list[Any]:
        return [
            str(self.anomaly_id),
            self.started_at,
            self.severity.value,
            self.normal_streak,
            self.shown.value,
        ]

    @classmethod
    def from_state(cls, state: list[Any]) -> Episode:
        severity = Severity(state[2])
        shown = Severity(state[4]) if len(state) > 4 else severity  # older states had no shown
        return cls(uuid.UUID(state[0]), float(state[1]), severity, shown, int(state[3]))


@dataclass(frozen=True, slots=True)
class Transition:
    """What one sample did to its series' episode."""

    kind: str  # "opened", "escalated", "resolved" or "" (nothing to publish)
    episode: Episode | None = None


NOTHING = Transition("")


def advance(
    episode: Episode | None,
    *,
    abnormal: bool,
    alarm: bool,
    severity: Severity,
    timestamp: float,
    new_id: Callable[[], uuid.UUID],
    resolve_after: int,
    with_duration: Callable[[Severity, float], Severity] = lambda severity, _lasted_s: severity,
) -> tuple[Episode | None, Transition]:
    """Next episode state for a sample. ``alarm``: the sample alone would page; ``abnormal``:
    it is not yet normal again (an alarm, a muted alarm, a hard limit, or outside the range).
    ``severity``: what this sample shows. ``new_id`` names a new episode (called only when one
    opens: it is not free). ``with_duration(worst shown, seconds lasted)`` is the severity an
    episode of that age deserves."""
    if episode is None:
        if not alarm:
            return None, NOTHING
        opened = Episode(new_id(), timestamp, severity, severity)
        return opened, Transition("opened", opened)
    if abnormal:
        episode.normal_streak = 0
        if severity.rank > episode.shown.rank:
            episode.shown = severity
        deserved = with_duration(episode.shown, timestamp - episode.started_at)
        if deserved.rank > episode.severity.rank:
            episode.severity = deserved
            return episode, Transition("escalated", episode)
        return episode, NOTHING
    episode.normal_streak += 1
    if episode.normal_streak >= resolve_after:
        return None, Transition("resolved", episode)
    return episode, NOTHING

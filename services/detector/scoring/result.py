"""The value returned for every scored sample."""

from __future__ import annotations

from typing import NamedTuple


class ScoreResult(NamedTuple):
    """Outcome of scoring one sample of one series (immutable).

    A named tuple rather than a frozen dataclass: one is built for every sample, and a
    frozen dataclass's ``__init__`` (one ``object.__setattr__`` per field) cost a tenth of
    the scorer's time; the scorer builds it with ``tuple.__new__`` in one step.

    Attributes:
        score: calibrated anomaly score in [0, 1]. ``score * score_decades`` is the
            surprise of the most surprised sub-detector in decades of probability, minus
            the series' alarm bar (the default threshold 0.4 ~ a one-in-10,000 event).
            0 while warming up, for skipped input, and (by default) inside the
            refractory period after an alarm.
        is_anomaly: ``score >= config.alarm_threshold``.
        expected_low, expected_high: the band the fast baseline considered normal for
            this sample (baseline +- ``expected_band`` typical deviations). NaN before
            the first valid sample.
        detectors: names of the sub-detectors whose own surprise reached the alarm
            level on this sample: ``"out_of_range"``, ``"level_shift"``, ``"novelty"``,
            ``"seasonal"``, ``"pattern"``, ``"stuck"``. May be non-empty while
            ``is_anomaly`` is False: the alarm was muted (``suppressed``), the series'
            alarm bar was higher, or it is warming up.
        warming_up: the series has not yet seen ``warmup_samples`` valid samples.
        suppressed: an alarm-level score was muted because an alarm was raised less
            than ``refractory_samples`` samples ago, or as many 5-minute periods on a
            series sampled faster (the same incident, most likely).
        skipped: the value was NaN/inf/too large and was not learned.
    """

    score: float
    is_anomaly: bool
    expected_low: float
    expected_high: float
    detectors: tuple[str, ...]
    warming_up: bool
    suppressed: bool = False
    skipped: bool = False

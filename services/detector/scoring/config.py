"""Every tunable of the streaming anomaly scorer, in one frozen dataclass.

The defaults are the single configuration used for *all* series (they were chosen on
the NAB benchmark as one corpus-wide setting, never per file; see EXPERIMENTS.md).
Units are samples unless a name says otherwise, because the scorer is meant to work on
any sampling interval without knowing it in advance.

Scores are built from "surprise" measured in decades of probability: a sub-detector
that says "this would happen by chance once in 10**k samples" contributes ``k`` decades.
``score = min(1, max_decades / score_decades)``, so with the defaults a score of 0.5
means roughly a one-in-100,000 event for one sub-detector.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: Names of the sub-detectors, in the order used by ``detector_weights``.
DETECTOR_NAMES = ("out_of_range", "spike", "novelty", "seasonal", "pattern")


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Tunables of :class:`~services.detector.scoring.detector.SeriesDetector`.

    Attributes are grouped by the sub-detector they belong to. Changing a default
    changes behaviour for every series, so do it only with a corpus-wide measurement.
    """

    # --- life cycle -----------------------------------------------------------------
    #: Samples a series must see before it may raise an alarm. The models learn during
    #: this time; scores are reported as 0 until it ends.
    warmup_samples: int = 200
    #: ``is_anomaly = score >= alarm_threshold``. Also the level that starts the
    #: refractory period below, which is why the benchmark-optimal threshold lands here.
    alarm_threshold: float = 0.4
    #: Surprise (decades of probability) that maps to score 1.0. Scores stay graded
    #: up to this point so that a threshold can still separate strong from weak events.
    score_decades: float = 10.0
    #: After an alarm, further alarms are muted for this many samples: one incident
    #: should page once, and repeated alarms on the same episode are pure noise.
    refractory_samples: int = 100
    #: Scores inside the refractory period are multiplied by this factor.
    refractory_factor: float = 0.0
    #: Multipliers of each sub-detector's surprise, in the order of
    #: ``DETECTOR_NAMES`` (out_of_range, spike, novelty, seasonal, pattern); 0 disables
    #: one.
    detector_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)

    # --- "spike": distance from a fast exponentially weighted baseline ---------------
    #: Smoothing factor of the fast baseline (about 1/alpha samples of memory).
    baseline_alpha: float = 0.01
    #: Raw spike score is ``1 - exp(-z / spike_squash)``; squashing keeps one extreme
    #: value from dominating the calibration history of heavy-tailed series.
    spike_squash: float = 3.0
    #: Fraction of the known value range added to the deviation scale, so that nearly
    #: constant series do not turn rounding noise into huge z-scores.
    scale_range_fraction: float = 0.01

    # --- "out_of_range": values beyond everything seen so far -----------------------
    #: After warm-up the known range widens only by this fraction of each excursion, so
    #: a slow drift beyond the range keeps accumulating surprise instead of being
    #: absorbed sample by sample.
    range_expand_rate: float = 0.1
    #: Decades of surprise per range-width of excursion (0.1 range -> 5 decades).
    range_decades_per_width: float = 50.0

    # --- "novelty" and "seasonal": hashed memory of discretised contexts -------------
    #: Samples after which the context memory starts learning (it must start within
    #: the warm-up, so that its calibration has absorbed the initial burst of
    #: "everything is new" before alarms are allowed).
    memory_start_samples: int = 75
    #: Number of value levels the known range is cut into.
    quant_levels: int = 12
    #: Length (samples) of the level sequence whose first occurrence is "novel".
    context_length: int = 2
    #: Time-of-day bins for the seasonal context (level seen at this hour before?).
    time_bins_per_day: int = 24
    #: Samples per block of the down-sampled "pattern" context; each block is represented
    #: by its extreme (the one farther from the baseline) so spikes survive.
    pattern_block: int = 8
    #: Blocks in the pattern context (the current, partial one included).
    pattern_blocks: int = 4
    #: Slots of the shared count table (one byte each).
    memory_slots: int = 2048
    #: Seed of the table's hash functions (collisions differ per seed; results should
    #: not depend on it beyond noise - the benchmark log reports the spread).
    hash_seed: int = 0
    #: Every this many samples all counts are halved, so contexts not seen for a long
    #: time are eventually forgotten and memory never saturates.
    memory_halving_interval: int = 5000
    #: When the known range outgrows the quantisation grid by this factor the grid is
    #: rebuilt and the memory cleared (old contexts no longer mean the same levels).
    grid_reset_factor: float = 2.0

    # --- calibration: anomaly likelihood of each raw sub-detector score --------------
    #: Samples in the short moving average of a raw score (an EWMA of equal mass).
    likelihood_short: int = 10
    #: Memory (samples) of the long-run mean/variance the short average is judged by.
    likelihood_long: int = 2000
    #: Floor added to the long-run standard deviation so that a series that has been
    #: perfectly quiet does not alarm on the first tiny wiggle.
    likelihood_floor: float = 0.05

    # --- input hygiene ------------------------------------------------------------------
    #: A gap longer than this many typical sampling intervals restarts the sequence
    #: context (the samples before and after a gap are not consecutive).
    gap_factor: float = 10.0
    #: Values with a larger magnitude are treated like NaN (skipped): they would overflow
    #: the running statistics.
    max_abs_value: float = 1e100
    #: Half-width of ``expected_low/high`` in units of the fast baseline's deviation.
    expected_band: float = 4.0

    def replace(self, **changes: Any) -> DetectorConfig:
        """Return a copy with some fields changed (validated like the original)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def __post_init__(self) -> None:
        """Reject settings that would make the scorer divide by zero or never learn."""
        if self.warmup_samples < 0 or self.refractory_samples < 0:
            raise ValueError("warmup_samples and refractory_samples must be >= 0")
        if not 0.0 < self.alarm_threshold <= 1.0:
            raise ValueError("alarm_threshold must be in (0, 1]")
        if self.score_decades <= 0.0 or self.spike_squash <= 0.0:
            raise ValueError("score_decades and spike_squash must be > 0")
        for name in ("baseline_alpha", "range_expand_rate"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.quant_levels < 2 or self.context_length < 1 or self.time_bins_per_day < 1:
            raise ValueError("quant_levels >= 2, context_length >= 1, time_bins_per_day >= 1")
        if self.pattern_block < 1 or self.pattern_blocks < 1:
            raise ValueError("pattern_block and pattern_blocks must be >= 1")
        if self.memory_slots < 16 or self.memory_halving_interval < 1:
            raise ValueError("memory_slots >= 16 and memory_halving_interval >= 1")
        if self.likelihood_short < 1 or self.likelihood_long < 2:
            raise ValueError("likelihood_short >= 1 and likelihood_long >= 2")
        if len(self.detector_weights) != len(DETECTOR_NAMES):
            raise ValueError(f"detector_weights needs {len(DETECTOR_NAMES)} entries")
        if self.likelihood_floor <= 0.0 or self.gap_factor <= 1.0:
            raise ValueError("likelihood_floor must be > 0 and gap_factor > 1")

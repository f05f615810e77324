"""Every tunable of the streaming anomaly scorer, in one frozen dataclass.

The defaults are the single configuration used for *all* series (they were chosen on
the NAB benchmark as one corpus-wide setting, never per file; see EXPERIMENTS.md).
Units are samples unless a name says otherwise, because the scorer is meant to work on
any sampling interval without knowing it in advance; the alarm's quiet period and the
alarm bar's memory count samples of ``alarm_period_s`` (see there).

Scores are built from "surprise" measured in decades of probability: a sub-detector
that says "this would happen by chance once in 10**k samples" contributes ``k`` decades.
``score = min(1, max_decades / score_decades)``; with the defaults the alarm threshold
0.4 means roughly a one-in-10,000 event for one sub-detector.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: Names of the sub-detectors, in the order used by ``detector_weights``.
DETECTOR_NAMES = ("out_of_range", "level_shift", "novelty", "seasonal", "pattern", "stuck")


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
    #: should page once, and repeated alarms on the same episode are pure noise. Counted
    #: in periods of ``alarm_period_s`` on a series sampled faster (8.3 hours at 5 minutes,
    #: 2000 samples at 15 s), so the quiet period lasts as long on every series.
    refractory_samples: int = 100
    #: Scores inside the refractory period are multiplied by this factor.
    refractory_factor: float = 0.0
    #: Each alarm raises this series' bar by this many decades; the bar decays with the
    #: time constant below. A series that keeps alarming then needs stronger evidence
    #: for the next alarm (alert-fatigue control); 0 disables it.
    alarm_bar_step: float = 3.0
    #: Time constant (samples) of the exponential decay of the alarm bar; periods of
    #: ``alarm_period_s`` on a series sampled faster, like ``refractory_samples``.
    alarm_bar_memory: int = 500
    #: Sampling period (seconds) for which ``alarm_threshold`` is stated: a series sampled
    #: every ``dt`` seconds, faster than this, needs ``log10(alarm_period_s / dt)`` more
    #: decades to alarm, so its chance alarms per day are those of a series sampled at
    #: this period rather than growing with the sampling rate (a 1 s series sees 300 times
    #: the samples of a 5-minute one). The quiet period and the alarm bar's memory count
    #: periods too: each sample of a series sampled every ``dt`` seconds is
    #: ``1 / round(alarm_period_s / dt)`` of one (a whole one below 1.5 samples a period,
    #: so a 5-minute series with a few shorter intervals still counts as one). 0 states
    #: the threshold, the quiet period and the bar's memory per sample.
    alarm_period_s: float = 300.0
    #: Multipliers of each sub-detector's surprise, in the order of ``DETECTOR_NAMES``
    #: (out_of_range, level_shift, novelty, seasonal, pattern, stuck); 0 disables one.
    detector_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)

    # --- "level_shift": distance from the exponentially weighted baseline -----------
    #: Smoothing factor of the baseline (~1/alpha samples of memory). The baseline also
    #: gives ``expected_low/high`` and picks the representative extreme of a block.
    baseline_alpha: float = 0.01
    #: Half-width of ``expected_low/high`` in mean absolute deviations of the baseline. After
    #: warm-up the baseline learns a sample beyond it as one at its edge (robust to glitches).
    expected_band: float = 4.0
    #: Raw level score is ``1 - exp(-z / level_squash)`` (z: distance in mean absolute
    #: deviations); squashing keeps one extreme value from dominating the calibration
    #: history of heavy-tailed series.
    level_squash: float = 3.0
    #: Fraction of the known range added to the deviation scale, so that nearly constant
    #: series do not turn rounding noise into huge z-scores.
    scale_range_fraction: float = 0.01

    # --- "out_of_range": values beyond everything seen so far -----------------------
    #: After warm-up the known range widens only by this fraction of each excursion, so
    #: a slow drift beyond the range keeps accumulating surprise instead of being
    #: absorbed sample by sample, and a recurring excursion of the same size alarms
    #: again.
    range_expand_rate: float = 0.1
    #: An excursion only counts when the value is also at least this many mean absolute
    #: deviations from the baseline (0 = off): new records of pure noise are not
    #: incidents.
    range_min_deviation: float = 0.0
    #: Decades of surprise per range-width of excursion (0.08 range -> 4 decades).
    range_decades_per_width: float = 50.0
    #: An excursion beyond the range to a value that at least this many earlier
    #: excursions (after warm-up) reached is not new: a burst of a size the series has
    #: produced again and again is routine for it (0 = off). Costs 16 bytes per episode
    #: kept.
    recurrence_episodes: int = 4
    #: The range width an excursion is measured in is at least this many steps of the
    #: series (its smallest change between consecutive samples; 0 = off). A series
    #: reported in coarse steps (CPU in 0.066 % steps, small integer counts) whose noise
    #: spans only a few steps reaches one step beyond its range as the samples grow, the
    #: smallest change it can show: at 16 steps that is worth 50 / 16 ~ 3 decades, under
    #: the 4 needed to alarm, while two steps still alarm.
    range_min_steps: float = 16.0

    # --- "stuck": the same value repeated for longer than ever before ----------------
    #: Decades of surprise per doubling of the current run of identical values beyond
    #: the longest run seen so far (plus ``stuck_min_run``). A frozen sensor or a stalled
    #: exporter repeats its last value; a series that always repeats values (counts,
    #: flat lines) has long runs on record and does not alarm.
    stuck_decades_per_doubling: float = 2.5
    #: Added to the longest run on record, so short runs never count.
    stuck_min_run: int = 5

    # --- "novelty", "seasonal", "pattern": hashed memory of discretised contexts -----
    #: Samples after which the context memory starts learning (it must start within
    #: the warm-up, so that its calibration has absorbed the initial burst of
    #: "everything is new" before alarms are allowed).
    memory_start_samples: int = 75
    #: Samples the context detectors' calibration needs after the memory starts: at first
    #: every context is new, and only once that burst is part of their calibration history
    #: does a novel context mean something. Until ``memory_start_samples +
    #: memory_settle_samples`` they cannot raise an alarm, whatever ``warmup_samples`` says
    #: (with the defaults this ends with the warm-up, so it changes nothing there).
    memory_settle_samples: int = 125
    #: Number of value levels the known range is cut into.
    quant_levels: int = 12
    #: Length (samples) of the level sequence whose first occurrence is "novel".
    context_length: int = 2
    #: Time-of-day bins for the seasonal context (level seen at this hour before?).
    time_bins_per_day: int = 24
    #: A (level, time-of-day) context is novel until seen this many times: one odd
    #: sample at an hour is weak evidence, several in a row at the same hour are not.
    seasonal_familiar_after: int = 1
    #: Samples per block of the down-sampled "pattern" context; each block is represented
    #: by its extreme (the one farther from the baseline) so spikes survive.
    pattern_block: int = 8
    #: Blocks in the pattern context (the current, partial one included).
    pattern_blocks: int = 4
    #: Counters in the shared count table (4 bits each: 4096 -> 2 KiB).
    memory_slots: int = 4096
    #: Seed of the table's hash functions (collisions differ per seed; results should
    #: not depend on it beyond noise - the benchmark log reports the spread).
    hash_seed: int = 0
    #: Every this many samples all counts are halved, so contexts not seen for a long
    #: time are eventually forgotten and memory never saturates.
    memory_halving_interval: int = 5000
    #: When the known range outgrows the quantisation grid by this factor the grid is
    #: rebuilt and the memory cleared (old contexts no longer mean the same levels).
    grid_reset_factor: float = 2.0

    # --- calibration: anomaly likelihood of level_shift and the context detectors ----
    #: Samples in the short moving average of a raw score (an EWMA of equal mass).
    likelihood_short: int = 10
    #: Memory (samples) of the long-run mean/variance the short average is judged by.
    likelihood_long: int = 2000
    #: Floor added to the long-run standard deviation so that a series that has been
    #: perfectly quiet does not alarm on the first tiny wiggle.
    likelihood_floor: float = 0.05

    # --- input hygiene ------------------------------------------------------------------
    #: A gap longer than this many typical sampling intervals restarts the sequence
    #: contexts (the samples before and after a gap are not consecutive).
    gap_factor: float = 10.0
    #: Values with a larger magnitude are treated like NaN (skipped): they would overflow
    #: the running statistics. The APIs refuse them before they get here
    #: (``shared.identifiers.MAX_SAMPLE_MAGNITUDE``, the same bound).
    max_abs_value: float = 1e100

    def replace(self, **changes: Any) -> DetectorConfig:
        """Return a copy with some fields changed (validated like the original)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of all fields (JSON-serialisable)."""
        return dataclasses.asdict(self)

    def __post_init__(self) -> None:
        """Reject settings that would make the scorer divide by zero or never learn."""
        # A list would make the config unhashable (detectors cache derived constants).
        object.__setattr__(self, "detector_weights", tuple(float(w) for w in self.detector_weights))
        if self.alarm_bar_step < 0.0 or self.alarm_bar_memory < 1:
            raise ValueError("alarm_bar_step must be >= 0 and alarm_bar_memory >= 1")
        if self.warmup_samples < 0 or self.refractory_samples < 0:
            raise ValueError("warmup_samples and refractory_samples must be >= 0")
        if not 0.0 <= self.alarm_period_s < float("inf"):
            raise ValueError("alarm_period_s must be a finite number >= 0")
        if not 0.0 < self.alarm_threshold <= 1.0:
            raise ValueError("alarm_threshold must be in (0, 1]")
        if self.score_decades <= 0.0 or self.level_squash <= 0.0:
            raise ValueError("score_decades and level_squash must be > 0")
        if len(self.detector_weights) != len(DETECTOR_NAMES):
            raise ValueError(f"detector_weights needs {len(DETECTOR_NAMES)} entries")
        for name in ("baseline_alpha", "range_expand_rate"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if self.quant_levels < 2 or self.context_length < 1 or self.time_bins_per_day < 1:
            raise ValueError("quant_levels >= 2, context_length >= 1, time_bins_per_day >= 1")
        if not 0 <= self.recurrence_episodes <= 64:
            raise ValueError("recurrence_episodes must be in [0, 64]")
        if self.range_min_steps < 0.0:
            raise ValueError("range_min_steps must be >= 0")
        if self.memory_start_samples < 0 or self.memory_settle_samples < 0:
            raise ValueError("memory_start_samples and memory_settle_samples must be >= 0")
        if self.seasonal_familiar_after < 1:
            raise ValueError("seasonal_familiar_after must be >= 1")
        if self.pattern_block < 1 or self.pattern_blocks < 1:
            raise ValueError("pattern_block and pattern_blocks must be >= 1")
        if self.memory_slots < 16 or self.memory_slots % 2 or self.memory_halving_interval < 1:
            raise ValueError("memory_slots must be even and >= 16; halving interval >= 1")
        if self.likelihood_short < 1 or self.likelihood_long < 2:
            raise ValueError("likelihood_short >= 1 and likelihood_long >= 2")
        if self.likelihood_floor <= 0.0 or self.gap_factor <= 1.0:
            raise ValueError("likelihood_floor must be > 0 and gap_factor > 1")

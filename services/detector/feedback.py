"""What a team's feedback on an anomaly changes for its series (no I/O).

A false positive raises the series' alarm threshold a little and records a band around the
value the team called normal, so the same pattern does not page again; a true positive lowers
the threshold back a little. Both are bounded, so feedback can tune but never silence a series:
the band reaches a quarter of the value's distance from the expected range on either side (a
spike to 500 called normal on a series at 40 still lets 97 page), never the whole way back to
the expected range, and at most the last ``MAX_BANDS`` are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BIAS_STEP_FP = 0.03
BIAS_STEP_TP = 0.01
MAX_BIAS = 0.2
MAX_BANDS = 8
#: How far a band called normal reaches around its value: this share of the value's distance
#: from the expected range (the same pattern again is quiet, a different incident is not).
BAND_SHARE = 0.25


@dataclass(slots=True)
class Feedback:
    """Kept for every series, so small: slots, and the bands a tuple (the empty one shared)."""

    threshold_bias: float = 0.0
    normal_bands: tuple[tuple[float, float], ...] = ()

    def known_normal(self, value: float) -> bool:
        return any(low <= value <= high for low, high in self.normal_bands)

    def false_positive(self, value: float, expected_low: float, expected_high: float) -> None:
        self.threshold_bias = min(self.threshold_bias + BIAS_STEP_FP, MAX_BIAS)
        if value > expected_high:
            edge = expected_high
        elif value < expected_low:
            edge = expected_low
        else:
            edge = value
        reach = max(BAND_SHARE * abs(value - edge), 0.02 * abs(value), 1e-9)
        self.normal_bands = (*self.normal_bands, (value - reach, value + reach))[-MAX_BANDS:]

    def true_positive(self) -> None:
        self.threshold_bias = max(self.threshold_bias - BIAS_STEP_TP, 0.0)

    def to_state(self) -> list[Any] | None:
        if not self.threshold_bias and not self.normal_bands:
            return None
        return [self.threshold_bias, [list(b) for b in self.normal_bands]]

    @classmethod
    def from_state(cls, state: list[Any] | None) -> Feedback:
        if not state:
            return cls()
        return cls(float(state[0]), tuple((float(a), float(b)) for a, b in state[1]))

"""What a team's feedback on an anomaly changes for its series (no I/O).

A false positive raises the series' alarm threshold a little and records a band around the
value the team called normal, so the same pattern does not page again; a true positive lowers
the threshold back a little. Both are bounded, so feedback can tune but never silence a series:
the band reaches a quarter of the value's distance from the expected range on either side (a
spike to 500 called normal on a series at 40 still lets 97 page), never the whole way back to
the expected range, and at most the last ``MAX_BANDS`` are kept.

Each verdict is applied once: the series keeps the keys of the last ``MAX_GIVEN`` verdicts it
took (anomaly and verdict) with its state, so the state saved after a verdict says, in the same
write, that it took it; the same verdict sent again (a retry, a click applied again) changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BIAS_STEP_FP = 0.03
BIAS_STEP_TP = 0.01
MAX_BIAS = 0.2
MAX_BANDS = 8
#: Verdicts a series remembers having taken (the feedback log remembers every verdict given; the
#: series only needs to cover the moment between its own save and that log's write).
MAX_GIVEN = 8
#: How far a band called normal reaches around its value: this share of the value's distance
#: from the expected range (the same pattern again is quiet, a different incident is not).
BAND_SHARE = 0.25


@dataclass(slots=True)
class Feedback:
    """Kept for every series, so small: slots, and the bands a tuple (the empty one shared)."""

    threshold_bias: float = 0.0
    normal_bands: tuple[tuple[float, float], ...] = ()
    given: tuple[str, ...] = ()  # keys of the last verdicts taken (``given_key``), oldest first

    def took(self, key: str) -> bool:
        """Whether the verdict ``key`` (``given_key``) was applied to this series."""
        return key in self.given

    def take(
        self, key: str, verdict: str, value: float, expected_low: float, expected_high: float
    ) -> bool:
        """Applies the verdict ``key`` once (``verdict``: ``false_positive`` or
        ``true_positive``, on an anomaly of that value and expected range); False, and nothing
        changed, when it was applied already."""
        if key in self.given:
            return False
        if verdict == "false_positive":
            self.false_positive(value, expected_low, expected_high)
        else:
            self.true_positive()
        self.given = (*self.given, key)[-MAX_GIVEN:]
        return True

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
        if not self.threshold_bias and not self.normal_bands and not self.given:
            return None
        return [self.threshold_bias, [list(b) for b in self.normal_bands], list(self.given)]

    @classmethod
    def from_state(cls, state: list[Any] | None) -> Feedback:
        if not state:
            return cls()
        given = tuple(str(k) for k in state[2]) if len(state) > 2 else ()
        return cls(float(state[0]), tuple((float(a), float(b)) for a, b in state[1]), given)


def given_key(anomaly_id: str, verdict: str) -> str:
    """What identifies one verdict: the anomaly and the verdict (whoever gives it, however
    often it is sent)."""
    return f"{anomaly_id}:{verdict}"

"""Every reason the scorer can give reads as words in an anomaly's explanation."""

from __future__ import annotations

import pytest

from services.detector.detection_engine import explain
from services.detector.scoring.config import DETECTOR_NAMES


@pytest.mark.parametrize("detector", [*DETECTOR_NAMES, "hard_limit"])
def test_each_detector_is_explained_in_words_not_by_its_name(detector: str) -> None:
    text = explain("cpu_utilization", 97.0, 20.0, 50.0, [detector], 0.93)
    assert text.startswith("cpu_utilization=97 is above the expected 20 to 50 (")
    assert detector not in text

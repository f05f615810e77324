"""A warm-up shorter than the scorer's context memory needs is harmless: the novelty, seasonal and
pattern detectors start learning at sample 76, and their first burst of "everything is new" used
to page every series right then."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.detector.config import DetectorSettings
from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.config import DetectorConfig
from shared.events import Event

START = datetime(2026, 1, 1, tzinfo=UTC)


def _run(engine: DetectionEngine, values: list[float]) -> list[tuple[int, Event]]:
    raised = []
    for i, value in enumerate(values, start=1):
        step = engine.step("web-1", "cpu_utilization", START + timedelta(minutes=i), value, "c")
        if step.event is not None:
            raised.append((i, step.event))
    return raised


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("warmup", [3, 10, 50])
def test_a_short_warmup_raises_nothing_on_a_noisy_steady_series(warmup: int, seed: int) -> None:
    rng = random.Random(seed)
    values = [50 + rng.gauss(0, 5) for _ in range(300)]
    assert _run(DetectionEngine.with_warmup(warmup), values) == []


def test_a_short_warmup_still_catches_an_early_spike() -> None:
    rng = random.Random(1)
    values = [50 + rng.gauss(0, 2) for _ in range(40)] + [120.0]
    raised = _run(DetectionEngine.with_warmup(10), values)
    assert [i for i, _ in raised] == [41]


def test_the_default_warmup_covers_the_context_memory() -> None:
    """So the floor on the context detectors never changes the default behaviour."""
    config = DetectorConfig()
    assert config.memory_start_samples + config.memory_settle_samples <= config.warmup_samples


@pytest.mark.parametrize("value", ["0", "2", "-5", "2000000"])
def test_a_nonsense_warmup_setting_is_refused_with_a_clear_message(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOPS_WARMUP_SAMPLES", value)
    with pytest.raises(ValidationError, match="SCOPS_WARMUP_SAMPLES"):
        DetectorSettings()


def test_a_short_warmup_setting_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCOPS_WARMUP_SAMPLES", "10")
    assert DetectorSettings().warmup_samples == 10

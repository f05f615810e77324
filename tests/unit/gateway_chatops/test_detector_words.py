"""Every detector name an anomaly can carry is explained in plain words by `explain ...`,
never printed twice as its own meaning ("out_of_range (out_of_range)")."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.detector.scoring.config import DETECTOR_NAMES
from services.gateway.chatops.insight_words import DETECTOR_WORDS, explanation

ROOT = Path(__file__).resolve().parents[3]
# Names added outside the scorer's sub-detectors, where they are emitted as literals:
# "hard_limit" (services/detector/engine.py, routes_anomaly.py), "isolation_forest" (the
# multivariate model, services/detector/models.py), "alertmanager"
# (services/gateway/alertmanager.py).
EMITTED_ELSEWHERE = ("hard_limit", "isolation_forest", "alertmanager")


def _literal_names() -> set[str]:
    """Detector names written as literals where events are built (``detectors=["..."]``,
    ``detectors.append("...")``), so a new one cannot be added without words."""
    sources = [*(ROOT / "services" / "detector").rglob("*.py")]
    sources.append(ROOT / "services" / "gateway" / "alertmanager.py")
    names: set[str] = set()
    for source in sources:
        for line in source.read_text().splitlines():
            if "detectors" in line:
                names.update(re.findall(r'(?:\[|append\()"([a-z_]+)"', line))
    return names


def test_the_literal_scan_finds_the_names_emitted_outside_the_scorer() -> None:
    assert set(EMITTED_ELSEWHERE) <= _literal_names()


@pytest.mark.parametrize("name", sorted({*DETECTOR_NAMES, *EMITTED_ELSEWHERE, *_literal_names()}))
def test_every_detector_name_has_words_and_is_said_once(name: str) -> None:
    words = DETECTOR_WORDS.get(name)
    assert words and words != name and name not in words
    item = {"event_id": "6b1f" + "0" * 28, "resource_id": "web-1", "detectors": [name]}
    text = explanation(item, [], datetime(2026, 12, 6, tzinfo=UTC))
    assert f"Detectors: {name} ({words})" in text
    assert text.count(name) == 1


def test_an_unknown_name_is_said_once_without_made_up_words() -> None:
    item = {"event_id": "6b1f" + "0" * 28, "resource_id": "web-1", "detectors": ["brand_new"]}
    text = explanation(item, [], datetime(2026, 12, 6, tzinfo=UTC))
    assert "Detectors: brand_new\n" in text + "\n" and "brand_new (" not in text

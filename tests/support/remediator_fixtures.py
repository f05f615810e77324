"""The remediator's test fixtures both tiers use: the shipped rules and script catalogue, the
action registry built from it, and anomalies to hand to the engine or the workflow. A
conftest re-exports the fixtures it wants (``from ... import anomaly, catalogue, registry``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.remediator.core.actions.catalogue import ScriptCatalogue, load_catalogue
from services.remediator.core.actions.registry import ActionRegistry, build_registry
from shared.events import AnomalyEvent, Severity

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "config" / "remediation-rules.yaml"
CATALOGUE = ROOT / "deploy" / "config" / "script-catalogue.yaml"

AnomalyFactory = Callable[..., AnomalyEvent]


@pytest.fixture(scope="session")
def catalogue() -> ScriptCatalogue:
    return load_catalogue(CATALOGUE)


@pytest.fixture(scope="session")
def registry(catalogue: ScriptCatalogue) -> ActionRegistry:
    return build_registry(catalogue)


@pytest.fixture
def anomaly() -> AnomalyFactory:
    def make(**changes: Any) -> AnomalyEvent:
        at = changes.pop("observed_at", datetime(2026, 11, 26, 18, 0, tzinfo=UTC))
        data: dict[str, Any] = {
            "resource_id": "web-1",
            "metric": "cpu_utilization",
            "value": 97.0,
            "observed_at": at,
            "score": 0.97,
            "severity": Severity.CRITICAL,
            "expected_low": 20.0,
            "expected_high": 50.0,
            "model_version": "test",
            "explanation": "test",
        }
        data.update(changes)
        data.setdefault("event_id", AnomalyEvent.derive_id(data["resource_id"], data["metric"], at))
        return AnomalyEvent.model_validate(data)

    return make

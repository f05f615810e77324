"""Pure fixtures: the shipped catalogue and registry, and anomalies to evaluate
(shared with the integration tier through tests/support)."""

from __future__ import annotations

from tests.support.remediator_fixtures import anomaly, catalogue, registry

__all__ = ["anomaly", "catalogue", "registry"]

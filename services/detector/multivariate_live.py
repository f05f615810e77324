"""The live multivariate view: each resource's latest metrics, scored in micro-batches.

Vectors are standardised per resource (each metric against that resource's own median and
spread at training time, :class:`ResourceScaler`) before the fleet-wide model sees them, so one
model serves web servers and databases alike: it learns how a resource's metrics move together
relative to its own normal, not what any one resource's normal is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from services.detector.multivariate import (
    Array,
    FeatureMismatchError,
    MultivariateError,
    MultivariateModel,
)


class ResourceScaler:
    """Per-resource centre and spread of each feature, from the training data."""

    def __init__(
        self, stats: Mapping[str, tuple[Sequence[float] | Array, Sequence[float] | Array]]
    ) -> None:
        self._stats = {
            r: (np.asarray(c, dtype=float), np.asarray(s, dtype=float))
            for r, (c, s) in stats.items()
        }

    def __contains__(self, resource_id: object) -> bool:
        return resource_id in self._stats

    def __len__(self) -> int:
        return len(self._stats)

    def transform(self, resource_ids: Sequence[str], x: Array) -> Array:
        centre = np.stack([self._stats[r][0] for r in resource_ids])
        scale = np.stack([self._stats[r][1] for r in resource_ids])
        scaled: Array = (x - centre) / scale
        return scaled

    def to_state(self) -> dict[str, Any]:
        return {r: [c.tolist(), s.tolist()] for r, (c, s) in self._stats.items()}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ResourceScaler:
        return cls({r: (cs[0], cs[1]) for r, cs in state.items()})


class ResourceFeatures:
    """The latest value and timestamp of each listed metric, per resource.

    ``vector`` returns NaN for a metric that is unknown or older than ``max_age_s``; the
    model imputes it (see ``MultivariateModel._scaled``). Metrics not listed are ignored,
    as are non-finite values and samples older than the one already held.
    """

    def __init__(self, metrics: Sequence[str], *, min_metrics: int, max_age_s: float) -> None:
        if len(set(metrics)) != len(metrics) or not 1 <= min_metrics <= len(metrics):
            raise MultivariateError("metrics must be unique and 1 <= min_metrics <= len(metrics)")
        self.metrics = tuple(metrics)
        self.min_metrics = min_metrics
        self.max_age_s = max_age_s
        self._index = {m: i for i, m in enumerate(self.metrics)}
        self._state: dict[str, tuple[Array, Array]] = {}  # resource -> (timestamps, values)

    def __len__(self) -> int:
        return len(self._state)

    def update(self, resource_id: str, metric: str, ts: float, value: float) -> bool:
        """Record a sample; True if it became the metric's latest value."""
        i = self._index.get(metric)
        if i is None or not (math.isfinite(value) and math.isfinite(ts)):
            return False
        state = self._state.get(resource_id)
        if state is None:
            d = len(self.metrics)
            state = self._state[resource_id] = (np.full(d, -np.inf), np.full(d, np.nan))
        if ts < state[0][i]:
            return False
        state[0][i], state[1][i] = ts, value
        return True

    def vector(self, resource_id: str, now: float | None = None) -> Array | None:
        """Feature vector if ``min_metrics`` metrics are fresh at ``now`` (default: the
        resource's newest sample), else None."""
        ids, x = self.matrix([resource_id], now)
        return x[0] if ids else None

    def matrix(
        self, resource_ids: Iterable[str], now: float | None = None
    ) -> tuple[list[str], Array]:
        """``vector`` for many resources in a few array operations: the resources that have
        enough fresh metrics, and their vectors as rows."""
        ids = [r for r in resource_ids if r in self._state]
        if not ids:
            return [], np.empty((0, len(self.metrics)))
        ts = np.stack([self._state[r][0] for r in ids])
        values = np.stack([self._state[r][1] for r in ids])
        ref = ts.max(axis=1, keepdims=True) if now is None else now
        fresh = ts >= ref - self.max_age_s
        keep = fresh.sum(axis=1) >= self.min_metrics
        x = np.where(fresh, values, np.nan)[keep]
        return [r for r, k in zip(ids, keep, strict=True) if k], x

    def forget(self, resource_id: str) -> None:
        self._state.pop(resource_id, None)

    def evict_stale(self, now: float) -> int:
        """Drop resources with no fresh metric left; returns how many were dropped."""
        stale = [r for r, (ts, _) in self._state.items() if ts.max() < now - self.max_age_s]
        for r in stale:
            del self._state[r]
        return len(stale)


class Flagged(NamedTuple):
    resource_id: str
    score: float
    metrics: tuple[str, ...]


class MultivariateScorer:
    """Collects resources whose vectors changed; scores them together on ``flush``.

    Why batches: one IsolationForest call costs milliseconds whatever its size, so scoring
    each sample alone would cost a thousand times more per sample than a batch of
    thousands. The owner calls ``flush`` every N ms or when ``pending`` reaches K. Not
    thread-safe: use it from the one loop that consumes the samples.
    """

    def __init__(
        self,
        model: MultivariateModel,
        features: ResourceFeatures,
        *,
        scaler: ResourceScaler | None = None,
        threshold: float | None = None,
        top_k: int = 3,
    ) -> None:
        self.features = features
        self.scaler = scaler
        self.threshold = model.summary.threshold if threshold is None else threshold
        self.top_k = top_k
        self._pending: set[str] = set()
        self.set_model(model)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def set_model(self, model: MultivariateModel, scaler: ResourceScaler | None = None) -> None:
        """Swap in another model version (same features, in the same order)."""
        if model.feature_names != self.features.metrics:
            raise FeatureMismatchError(
                f"model features {model.feature_names} != tracked {self.features.metrics}"
            )
        self.model = model
        if scaler is not None:
            self.scaler = scaler

    def update(self, resource_id: str, metric: str, ts: float, value: float) -> bool:
        changed = self.features.update(resource_id, metric, ts, value)
        if changed:
            self._pending.add(resource_id)
        return changed

    def flush(self, now: float | None = None) -> list[Flagged]:
        """Score every pending resource with enough fresh metrics; return those at or above
        the threshold, highest score first."""
        pending = self._pending
        if self.scaler is not None:  # a resource the model was not trained on is not judged
            pending = {r for r in pending if r in self.scaler}
        ids, x = self.features.matrix(pending, now)
        self._pending.clear()
        if not ids:
            return []
        if self.scaler is not None:
            x = self.scaler.transform(ids, x)
        scores = self.model.score_batch(x)
        hit = np.flatnonzero(scores >= self.threshold)
        names = self.model.explain_batch(x[hit], self.top_k) if hit.size else []
        pairs = zip(hit, names, strict=True)
        flagged = [Flagged(ids[i], float(scores[i]), tuple(n)) for i, n in pairs]
        return sorted(flagged, key=lambda f: -f.score)

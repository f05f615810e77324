"""Training the multivariate model: from samples to a standardised matrix, a model version,
and a live swap. Runs as a background job whose progress can be polled.

Rows are built per resource on a time grid (``bucket_s``): the last value of each feature
metric in each bucket. Each resource's rows are standardised by that resource's own median and
MAD; a row needs ``min_metrics`` features, and a missing one is filled with the resource's
median (0 after standardising). Samples inside an excluded time range (a deployment, a load
test) are left out.
"""

from __future__ import annotations

import uuid
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from services.detector.multivariate import Array, MultivariateModel, NotEnoughDataError
from services.detector.multivariate_live import ResourceScaler

Sample = tuple[str, str, float, float]  # resource, metric, epoch seconds, value


@dataclass(frozen=True)
class TimeRange:
    start: float
    end: float

    def __contains__(self, ts: object) -> bool:
        return isinstance(ts, float | int) and self.start <= ts <= self.end


@dataclass
class TrainingSet:
    x: Array
    scaler: ResourceScaler
    description: dict[str, Any]


def build_training_set(
    samples: Iterable[Sample],
    metrics: Sequence[str],
    *,
    bucket_s: float,
    min_metrics: int,
    exclude: Sequence[TimeRange] = (),
) -> TrainingSet:
    index = {m: i for i, m in enumerate(metrics)}
    grid: dict[str, dict[int, Array]] = defaultdict(dict)
    used = skipped = 0
    first, last = float("inf"), float("-inf")
    for resource, metric, ts, value in samples:
        i = index.get(metric)
        if i is None:
            continue
        if any(ts in r for r in exclude):
            skipped += 1
            continue
        row = grid[resource].setdefault(int(ts // bucket_s), np.full(len(metrics), np.nan))
        row[i] = value
        used += 1
        first, last = min(first, ts), max(last, ts)
    stats: dict[str, tuple[Array, Array]] = {}
    blocks: list[Array] = []
    for resource, buckets in grid.items():
        rows = np.stack([buckets[k] for k in sorted(buckets)])
        rows = rows[np.sum(~np.isnan(rows), axis=1) >= min_metrics]
        if len(rows) < 2:
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # A feature metric the resource never sends is a column of NaN: no centre.
            warnings.simplefilter("ignore", RuntimeWarning)
            centre = np.nanmedian(rows, axis=0)
            spread = 1.4826 * np.nanmedian(np.abs(rows - centre), axis=0)
        centre = np.where(np.isfinite(centre), centre, 0.0)
        floor = np.maximum(0.01 * np.abs(centre), 1e-6)
        spread = np.where(np.isfinite(spread) & (spread > floor), spread, floor)
        stats[resource] = (centre, spread)
        blocks.append(np.nan_to_num((rows - centre) / spread, nan=0.0))
    if not blocks:
        raise NotEnoughDataError(
            f"no resource has {min_metrics} of the feature metrics in at least two time buckets"
        )
    x = np.concatenate(blocks)
    description = {
        "resources": len(stats),
        "rows": len(x),
        "samples": used,
        "samples_excluded": skipped,
        "from": datetime.fromtimestamp(first, UTC).isoformat() if used else None,
        "to": datetime.fromtimestamp(last, UTC).isoformat() if used else None,
        "excluded_ranges": [[r.start, r.end] for r in exclude],
        "bucket_s": bucket_s,
    }
    return TrainingSet(x, ResourceScaler(stats), description)


def train(
    training: TrainingSet, metrics: Sequence[str], random_state: int, threshold: float
) -> MultivariateModel:
    """The model, its holdout measured at ``threshold``: the one the live view flags at."""
    # Rows are shuffled so the holdout is drawn from every resource, not the last ones built.
    order = np.random.default_rng(random_state).permutation(len(training.x))
    return MultivariateModel.train(
        training.x[order], list(metrics), random_state=random_state, threshold=threshold
    )


@dataclass
class TrainingJob:
    """What a poller sees of one training run."""

    source: str
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "queued"  # queued, running, succeeded, failed
    progress: float = 0.0
    stage: str = "queued"
    version: str | None = None
    error: str | None = None
    trained_on: dict[str, Any] = field(default_factory=dict)
    holdout: dict[str, Any] = field(default_factory=dict)

    def advance(self, stage: str, progress: float) -> None:
        self.status, self.stage, self.progress = "running", stage, progress

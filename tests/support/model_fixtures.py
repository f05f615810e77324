"""Small trained models and a stepping clock, for the model store's tests in every tier."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from services.detector.multivariate import MultivariateModel

Array = npt.NDArray[np.float64]
NAMES = ("cpu_utilization", "memory_utilization", "disk_used_percent")
TRAINED_ON = {
    "series": 3,
    "samples": 400,
    "time_range": ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"],
    "excluded_ranges": [["2024-01-01T06:00:00Z", "2024-01-01T07:00:00Z"]],
}


def rows(seed: int, n: int = 400) -> Array:
    rng = np.random.default_rng(seed)
    load = rng.standard_normal(n)
    return np.column_stack(
        [
            50 + 15 * load + 3 * rng.standard_normal(n),
            60 + 12 * load + 2.5 * rng.standard_normal(n),
            rng.normal(40, 5, n),
        ]
    )


def small_model(seed: int) -> MultivariateModel:
    return MultivariateModel.train(rows(seed), NAMES, random_state=seed, n_estimators=10)


class StepClock:
    """A clock that moves one second per reading, so versions sort in save order."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            self.now += timedelta(seconds=1)
            return self.now

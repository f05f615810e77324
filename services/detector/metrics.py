"""The detector's Prometheus metrics."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter("ml_predictions_total", "Metric samples scored.")
ANOMALIES_DETECTED = Counter(
    "ml_anomalies_detected", "Anomaly events raised, by severity.", ["severity"]
)
SCORING_SECONDS = Histogram(
    "ml_scoring_seconds",
    "Time to score one metric batch entry, or one part of a large one (at most 100 samples).",
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
SAMPLES_FROM_THE_FUTURE = Counter(
    "ml_samples_from_the_future_dropped",
    "Samples dropped unlearned: timed further ahead of the detector's clock than "
    "SCOPS_MAX_FUTURE_S allows.",
)
ENTRIES_AWAITING_CHECKPOINT = Gauge(
    "ml_entries_awaiting_checkpoint",
    "Metric entries scored and still pending in the detector group: acknowledged once a "
    "checkpoint covers what was learned from them (at most about SCOPS_CHECKPOINT_INTERVAL_S "
    "of entries).",
)
SERIES_TRACKED = Gauge("ml_series_tracked", "Series (resource x metric) with state in memory.")
SERIES_FORGOTTEN = Counter(
    "ml_series_forgotten",
    "Series dropped from memory and from the checkpoint: silent for SCOPS_FORGET_AFTER_S while "
    "others kept sending.",
)
MODEL_INFO = Gauge(
    "ml_model_info",
    "The model versions in use, value 1 (kind: streaming or multivariate; the multivariate "
    "version is none until a model is trained or activated).",
    ["kind", "version"],
)
NO_MODEL = "none"


def show_model_version(kind: str, version: str, replaces: str | None = None) -> None:
    """Export ``version`` as the one in use for ``kind``, in place of ``replaces``."""
    if replaces is not None and replaces != version:
        with contextlib.suppress(KeyError):
            MODEL_INFO.remove(kind, replaces)
    MODEL_INFO.labels(kind=kind, version=version).set(1)

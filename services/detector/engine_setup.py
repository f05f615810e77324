"""Building the detection engine from settings (shared by the service and ``scops backtest``,
which must not pay for importing the web framework or scikit-learn)."""

from __future__ import annotations

import dataclasses

from services.detector.config import DetectorSettings
from services.detector.detection_engine import DetectionEngine
from services.detector.scoring.config import DetectorConfig
from services.detector.severity import SeverityPolicy


def build_engine(settings: DetectorSettings) -> DetectionEngine:
    return DetectionEngine(
        dataclasses.replace(DetectorConfig(), warmup_samples=settings.warmup_samples),
        SeverityPolicy(
            hard_limits=tuple(settings.hard_limits),
            escalate_after_s=settings.escalate_after_s,
            page_min_deviation=settings.page_min_deviation,
        ),
        resolve_after=settings.resolve_after_samples,
        max_future_s=settings.max_future_s,
    )

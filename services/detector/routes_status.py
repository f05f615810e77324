"""``GET /anomaly/status``: models, series tracked, warm-up, shards of this process."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.detector.deps import DetectorDep
from services.detector.detection_engine import MODEL_VERSION

router = APIRouter(tags=["anomaly"])


@router.get("/anomaly/status", summary="Models, series tracked, warm-up")
async def status(detector: DetectorDep) -> dict[str, Any]:
    engine, models = detector.engine, detector.models
    return {
        "model_version": MODEL_VERSION,
        "series_tracked": len(engine.series),
        "series_warming_up": engine.warming_up(),
        "warmup_samples": engine.config.warmup_samples,
        "alarm_threshold": engine.config.alarm_threshold,
        "samples_scored": engine.samples_scored,
        "api_requests_admitted": detector.scoring_pool.admitted,
        "shards": detector.shards,
        "checkpointed_series": detector.checkpointed_series,
        "unreadable_saved_series": engine.unreadable_states,
        "multivariate_model": models.version,
        "multivariate_metrics": list(models.options.metrics),
    }

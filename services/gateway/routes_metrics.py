"""``POST /v1/metrics``: accept a batch of samples onto the metrics stream."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.auth import Ingest
from services.gateway.deps import BusDep, CorrelationIdDep, SettingsDep
from services.gateway.ingest import split_by_shard
from services.gateway.metrics import SAMPLES_INGESTED
from shared.events import MetricSample
from shared.web import PROBLEM_SCHEMA

log = structlog.get_logger("gateway.metrics")
router = APIRouter(tags=["metrics"])


class MetricIngest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "samples": [
                        {
                            "resource_id": "web-1",
                            "metric": "cpu_utilization",
                            "value": 37.5,
                            "timestamp": "2026-11-26T18:00:00Z",
                            "labels": {"service": "nginx"},
                        }
                    ]
                }
            ]
        },
    )
    samples: list[MetricSample] = Field(min_length=1)


class IngestAccepted(BaseModel):
    accepted: int = Field(description="Samples written to the metrics stream.")
    correlation_id: str = Field(description="Follows these samples through every service.")
    entries: list[str] = Field(description="Stream entry ids written, one per shard touched.")


@router.post(
    "/v1/metrics",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ingest a batch of metric samples",
    responses={
        400: PROBLEM_SCHEMA,
        401: PROBLEM_SCHEMA,
        403: PROBLEM_SCHEMA,
        413: PROBLEM_SCHEMA,
        422: PROBLEM_SCHEMA,
        429: PROBLEM_SCHEMA,
    },
)
async def ingest_metrics(
    body: MetricIngest,
    _: Ingest,
    settings: SettingsDep,
    bus: BusDep,
    correlation_id: CorrelationIdDep,
) -> IngestAccepted:
    """Validate every sample, then write them all (one stream entry per shard). A request with
    any invalid sample writes nothing."""
    if len(body.samples) > settings.max_batch_samples:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"samples: {len(body.samples)} samples; at most {settings.max_batch_samples} "
            "are accepted per request",
        )
    entries = split_by_shard(body.samples, settings.metric_shards, correlation_id)
    ids = await bus.publish_many(entries)
    SAMPLES_INGESTED.inc(len(body.samples))
    log.info("metrics_accepted", samples=len(body.samples), entries=len(ids))
    return IngestAccepted(accepted=len(body.samples), correlation_id=correlation_id, entries=ids)

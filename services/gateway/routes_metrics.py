"""``POST /v1/metrics``: accept a batch of samples onto the metrics stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.auth import Ingest
from services.gateway.deps import BusDep, CorrelationIdDep, SettingsDep
from services.gateway.ingest import IncomingSample, split_by_shard, timestamps_out_of_bounds
from services.gateway.metrics import SAMPLES_INGESTED
from shared.web import problem_responses

log = structlog.get_logger("gateway.metrics")
router = APIRouter(tags=["metrics"])


def _example(schema: dict[str, Any]) -> None:
    """An example dated now (whenever the API description is built): a fixed date would
    soon be refused as too old."""
    schema["examples"] = [
        {
            "samples": [
                {
                    "resource_id": "web-1",
                    "metric": "cpu_utilization",
                    "value": 37.5,
                    "timestamp": datetime.now(UTC).replace(microsecond=0).isoformat(),
                    "labels": {"service": "nginx"},
                }
            ]
        }
    ]


class MetricIngest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_example)
    samples: list[IncomingSample] = Field(min_length=1)


class IngestAccepted(BaseModel):
    accepted: int = Field(description="Samples written to the metrics stream.")
    correlation_id: str = Field(description="Follows these samples through every service.")
    entries: list[str] = Field(description="Stream entry ids written, one per shard touched.")


@router.post(
    "/v1/metrics",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ingest a batch of metric samples",
    responses=problem_responses(400, 401, 403, 413, 422, 429),
)
async def ingest_metrics(
    body: MetricIngest,
    _: Ingest,
    settings: SettingsDep,
    bus: BusDep,
    correlation_id: CorrelationIdDep,
) -> IngestAccepted:
    """Validate every sample, then write them all (one stream entry per shard). A request with
    any invalid sample writes nothing: see docs/security.md, "Input limits", for what is
    accepted (times within `SCOPS_MAX_PAST_S` before and `SCOPS_MAX_FUTURE_S` after the
    gateway's clock)."""
    if len(body.samples) > settings.max_batch_samples:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"samples: {len(body.samples)} samples; at most {settings.max_batch_samples} "
            "are accepted per request",
        )
    late_or_early = timestamps_out_of_bounds(body.samples, settings.time_bounds, datetime.now(UTC))
    if late_or_early:
        raise RequestValidationError(
            [
                {"loc": ("body", "samples", i, "timestamp"), "msg": why, "type": "value_error"}
                for i, why in late_or_early
            ]
        )
    samples = [s.to_event() for s in body.samples]
    entries = split_by_shard(samples, settings.metric_shards, correlation_id)
    ids = await bus.publish_many(entries)
    SAMPLES_INGESTED.inc(len(body.samples))
    log.info("metrics_accepted", samples=len(body.samples), entries=len(ids))
    return IngestAccepted(accepted=len(body.samples), correlation_id=correlation_id, entries=ids)

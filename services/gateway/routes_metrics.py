"""``POST /v1/metrics``: accept a batch of samples onto the metrics stream.

Most requests take the fast path (:class:`FastIngestRoute`): the body is read in one pass into
columns (``ingest.read_columns``) and written one stream entry per shard. A body that pass does
not accept goes to the route as FastAPI declares it, validated by the ``MetricIngest`` model,
whose answer (a problem naming the field, or acceptance) is the same as it always was; the
OpenAPI document describes that model.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.api_keys import Role
from services.gateway.auth import Ingest, _presented_key, limited
from services.gateway.config import GatewaySettings
from services.gateway.deps import BusDep, CorrelationIdDep, SettingsDep, gateway
from services.gateway.ingest import (
    Columns,
    IncomingSample,
    columns_by_shard,
    read_columns,
    timestamps_out_of_bounds,
)
from services.gateway.metrics import SAMPLES_INGESTED
from shared.bus import EventBus
from shared.web import declared_coding, problem_responses

log = structlog.get_logger("gateway.metrics")


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


def _check_size(count: int, settings: GatewaySettings) -> None:
    if count > settings.max_batch_samples:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"samples: {count} samples; at most {settings.max_batch_samples} "
            "are accepted per request",
        )


async def _write(
    columns: Columns,
    settings: GatewaySettings,
    bus: EventBus,
    correlation_id: str,
    sent_by: str | None,
) -> IngestAccepted:
    entries = columns_by_shard(columns, settings.metric_shards, correlation_id, sent_by)
    ids = await bus.publish_fields(entries)
    SAMPLES_INGESTED.inc(len(columns))
    log.info("metrics_accepted", samples=len(columns), entries=len(ids))
    return IngestAccepted(accepted=len(columns), correlation_id=correlation_id, entries=ids)


def _takes_json(request: Request) -> bool:
    """Whether FastAPI would read this body as JSON (the same test it applies)."""
    value = request.headers.get("content-type")
    if not value:
        return False
    message = email.message.Message()
    message["content-type"] = value
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


_admit = limited("ingest_limiter", Role.INGEST)


async def _fast(request: Request) -> Response | None:
    """The request answered without a model per sample; None: the declared route decides."""
    if request.method != "POST" or not _takes_json(request):
        return None
    if declared_coding(request) is not None:
        return None  # refused by the declared route, whatever the bytes (415)
    settings: GatewaySettings = gateway(request).settings
    columns = read_columns(await request.body(), settings.time_bounds, datetime.now(UTC))
    if columns is None:
        return None
    sender = await _admit(request, _presented_key(request))
    _check_size(len(columns), settings)
    correlation_id = str(request.scope.get("state", {}).get("correlation_id", ""))
    bus = gateway(request).bus
    accepted = await _write(columns, settings, bus, correlation_id, sender.sender)
    return JSONResponse(accepted.model_dump(), status_code=status.HTTP_202_ACCEPTED)


class FastIngestRoute(APIRoute):
    """Tries :func:`_fast` before the route as declared (which reads the body FastAPI's way)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        declared = super().get_route_handler()

        async def handler(request: Request) -> Response:
            answered = await _fast(request)
            return answered if answered is not None else await declared(request)

        return handler


router = APIRouter(tags=["metrics"], route_class=FastIngestRoute)


@router.post(
    "/v1/metrics",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ingest a batch of metric samples",
    responses=problem_responses(400, 401, 403, 413, 422, 429),
)
async def ingest_metrics(
    body: MetricIngest,
    sender: Ingest,
    settings: SettingsDep,
    bus: BusDep,
    correlation_id: CorrelationIdDep,
) -> IngestAccepted:
    """Validate every sample, then write them all (one stream entry per shard). A request with
    any invalid sample writes nothing: see docs/security.md, "Input limits", for what is
    accepted (times within `SCOPS_MAX_PAST_S` before and `SCOPS_MAX_FUTURE_S` after the
    gateway's clock)."""
    _check_size(len(body.samples), settings)
    late_or_early = timestamps_out_of_bounds(body.samples, settings.time_bounds, datetime.now(UTC))
    if late_or_early:
        raise RequestValidationError(
            [
                {"loc": ("body", "samples", i, "timestamp"), "msg": why, "type": "value_error"}
                for i, why in late_or_early
            ]
        )
    columns = Columns.of_models(body.samples)
    return await _write(columns, settings, bus, correlation_id, sender.sender)

"""Per-series anomaly charts."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.gateway.anomaly_index import AnomalyIndex
from services.gateway.config import GatewaySettings
from services.gateway.console.charts import draw
from services.gateway.console.guard import CONSOLE, Refused, User
from services.gateway.console.routes_pages import show
from services.gateway.console.series_data import (
    WINDOW_S,
    marked,
    recent_samples,
    series_anomalies,
)
from services.gateway.deps import gateway

router = APIRouter(prefix=CONSOLE, include_in_schema=False)


@router.get("/series")
async def series(request: Request, user: User) -> Response:
    resource_id = request.query_params.get("resource_id", "").strip()
    metric = request.query_params.get("metric", "").strip()
    if not resource_id or not metric or len(resource_id) > 256 or len(metric) > 256:
        raise Refused(400, "a series is named by resource_id and metric")
    settings: GatewaySettings = gateway(request).settings
    index: AnomalyIndex = gateway(request).anomaly_index
    recent, anomalies = await asyncio.gather(
        recent_samples(gateway(request).redis, settings.metric_shards, resource_id, metric),
        series_anomalies(index, resource_id, metric),
    )
    # The chart covers the span the values were read for; the table lists every anomaly found.
    shown = [m for m in marked(anomalies) if recent.since <= m.at <= recent.until]
    chart = draw(recent.samples, shown)
    return await show(
        request,
        user,
        "series.html",
        {
            "title": f"{resource_id} / {metric}",
            "resource_id": resource_id,
            "metric": metric,
            "chart": chart,
            "samples": len(recent.samples),
            "window_minutes": WINDOW_S // 60,
            "since": recent.since,
            "cut": recent.cut,
            "drawn": len(shown),
            "anomalies": anomalies,
        },
    )

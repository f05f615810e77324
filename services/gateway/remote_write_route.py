"""``POST /api/v1/write``: Prometheus remote write 1.0 onto the metrics stream.

The contract Prometheus relies on: 2xx only once the samples are on the stream; 4xx (never
retried) only for a request that can never succeed (malformed body, wrong encoding, no or bad
key); 503 with ``Retry-After`` while Redis fails or the detector is too far behind, so
Prometheus keeps the samples and sends them again (a 5xx, not a 429: Prometheus retries a 429
only with ``retry_on_http_429``); the ingest key's rate limit still answers 429. Samples the
product will not take (stale markers, NaN, times out of the window, series without a
resource...) are dropped and counted (``scops_remote_write_samples_dropped``), never a reason
to refuse the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.gateway.auth import Ingest
from services.gateway.config import GatewaySettings
from services.gateway.deps import BusDep, CorrelationIdDep, SettingsDep, gateway
from services.gateway.ingest import split_by_shard
from services.gateway.remote_write_decode import RemoteWriteError, decode
from services.gateway.remote_write_mapping import (
    Dropped,
    PlanCache,
    SeriesMapping,
    counter_rates,
    map_write,
    mapping_from,
)
from services.gateway.remote_write_proto import MetricType
from services.gateway.remote_write_state import BacklogGuard, CounterMemory
from shared.events import MetricSample
from shared.web import problem_responses

log = structlog.get_logger("gateway.remote_write")

RETRY_AFTER_S = 5
METADATA_REMEMBERED = 50_000  # metric families whose type is remembered per process
FAMILY_NAME_REMEMBERED = 1024  # characters; a longer family name is not remembered

SAMPLES_WRITTEN = Counter(
    "scops_remote_write_samples_written",
    "Samples from Prometheus remote write put on the metrics stream (gauges, and counter rates).",
)
SAMPLES_DROPPED = Counter(
    "scops_remote_write_samples_dropped",
    "Samples from Prometheus remote write not put on the stream, by reason (stale_marker, "
    "non_finite, out_of_time_window, not_selected, no_resource_label, invalid_name_or_labels, "
    "histogram_bucket, native_histogram, counter_first_point, counter_out_of_order).",
    ["reason"],
)
REQUESTS_DEFERRED = Counter(
    "scops_remote_write_deferred",
    "Remote write requests answered 503 for Prometheus to retry, by reason.",
    ["reason"],
)

for _reason in Dropped:  # every series exported from the start, at 0
    SAMPLES_DROPPED.labels(reason=_reason.value)
for _deferral in ("redis_unavailable", "backlog"):
    REQUESTS_DEFERRED.labels(reason=_deferral)


@dataclass
class RemoteWrite:
    """What the route needs, made once in the app's lifespan."""

    mapping: SeriesMapping
    counters: CounterMemory
    backlog: BacklogGuard
    metadata: dict[str, MetricType] = field(default_factory=dict)
    plans: PlanCache = field(default_factory=dict)

    def remember(self, metadata: dict[str, MetricType]) -> None:
        """Prometheus sends metadata in requests of their own (every minute by default): the
        types are kept for the samples that come later (per process; an unknown type falls
        back on the name's suffix). A type that changes forgets the series planned with it."""
        # A family name longer than any real one is used for its own request, not remembered:
        # the memory is counted in names, not bytes.
        metadata = {n: k for n, k in metadata.items() if len(n) <= FAMILY_NAME_REMEMBERED}
        if all(self.metadata.get(name) == kind for name, kind in metadata.items()):
            return
        if len(self.metadata) + len(metadata) > METADATA_REMEMBERED:
            self.metadata.clear()
        self.metadata.update(metadata)
        self.plans.clear()


def build_remote_write(settings: GatewaySettings, redis: Redis) -> RemoteWrite:
    mapping = mapping_from(
        settings.remote_write_resource_labels,
        settings.remote_write_keep_labels,
        settings.remote_write_name_labels,
        settings.remote_write_include_metrics,
        settings.remote_write_exclude_metrics,
        settings.remote_write_include_labels,
        settings.remote_write_exclude_labels,
        settings.remote_write_counter_suffixes,
    )
    limit = int(settings.stream_maxlen * settings.remote_write_max_backlog)
    return RemoteWrite(
        mapping,
        CounterMemory(redis, settings.remote_write_counter_state_ttl_s),
        BacklogGuard(redis, limit),
    )


def _unavailable(exc: Exception) -> HTTPException:
    REQUESTS_DEFERRED.labels(reason="redis_unavailable").inc()
    log.warning("remote_write_redis_unavailable", error=str(exc))
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "Redis is not available; nothing was written, send again",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class RetryableRoute(APIRoute):
    """A Redis failure anywhere in the request (the key check included) is a 503 with
    ``Retry-After``, which Prometheus retries, rather than an unhandled 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (RedisError, ConnectionError) as exc:
                raise _unavailable(exc) from None

        return handle


router = APIRouter(tags=["metrics"], route_class=RetryableRoute)

_BODY = {
    "content": {
        "application/x-protobuf": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "A snappy block-compressed prometheus.WriteRequest.",
            }
        }
    },
    "required": True,
}


def _chunks(samples: list[MetricSample], size: int) -> list[list[MetricSample]]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


@router.post(
    "/api/v1/write",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Prometheus remote write 1.0",
    responses={
        204: {"description": "The selected samples are on the metrics stream."},
        **problem_responses(400, 401, 403, 413, 415, 429, 503),
    },
    openapi_extra={"requestBody": _BODY},
    response_class=Response,
)
async def remote_write(
    request: Request,
    sender: Ingest,
    settings: SettingsDep,
    bus: BusDep,
    correlation_id: CorrelationIdDep,
) -> Response:
    """A snappy-compressed protobuf `WriteRequest` (headers `Content-Encoding: snappy`,
    `Content-Type: application/x-protobuf`, `X-Prometheus-Remote-Write-Version: 0.1.0`), sent
    with an ingest key as bearer token. Series are selected and mapped as configured
    (`SCOPS_REMOTE_WRITE_*`, see docs/operator-guide.md); counters become per-second rates."""
    try:
        write = decode(
            request.headers, await request.body(), settings.remote_write_max_decoded_bytes
        )
    except RemoteWriteError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    state: RemoteWrite = gateway(request).remote_write
    state.remember(write.metadata)
    now = datetime.now(UTC)
    mapped = map_write(write, state.mapping, settings.time_bounds, now, state.metadata, state.plans)
    previous = await state.counters.load(mapped.counters)
    rates, latest, unrated = counter_rates(mapped.counters, previous)
    samples = mapped.gauges + rates
    entries = [
        entry
        for chunk in _chunks(samples, settings.max_batch_samples)
        for entry in split_by_shard(chunk, settings.metric_shards, correlation_id, sender.sender)
    ]
    behind = await state.backlog.over({stream for stream, _ in entries})
    if behind is not None:
        REQUESTS_DEFERRED.labels(reason="backlog").inc()
        raise HTTPException(  # 503, not 429: every Prometheus retries a 5xx
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the detector is behind on {behind}; nothing was written, send again later",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    await bus.publish_fields(entries)
    await state.counters.save(latest)  # only once the rates are on the stream
    dropped = mapped.dropped + unrated
    SAMPLES_WRITTEN.inc(len(samples))
    for reason, count in dropped.items():
        SAMPLES_DROPPED.labels(reason=reason).inc(count)
    log.info(
        "remote_write_accepted",
        series=len(write.series),
        samples=len(samples),
        entries=len(entries),
        dropped=dict(dropped) or None,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)

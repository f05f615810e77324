"""Training history read from a Prometheus server or CloudWatch (``POST /anomaly/train`` with
source ``prometheus`` or ``cloudwatch``).

The request names what to read; the detector's settings decide whether it may: a Prometheus
URL must lie under one of ``SCOPS_TRAIN_SOURCES_ALLOWED_URLS`` (empty: the source is off, so a
caller can never make the detector fetch an address of its choosing), CloudWatch needs
``SCOPS_AWS_REGION``. Fetching happens in the training job, not in the request, bounded by
``SCOPS_TRAIN_SOURCE_TIMEOUT_S`` per request, ``SCOPS_TRAIN_SOURCE_DEADLINE_S`` in all and
``SCOPS_TRAIN_SOURCE_MAX_POINTS``; redirects are not followed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.detector.config import DetectorSettings
from services.detector.training import Sample
from shared.events import UtcDatetime
from shared.history_series import (
    FetchLimits,
    HistoryError,
    HistorySeries,
    check_http_url,
    points_between,
    url_allowed,
)
from shared.identifiers import MetricName, Number, WholeNumber

Statistic = Literal["Average", "Sum", "Maximum", "Minimum", "SampleCount", "p50", "p90", "p99"]


class SourceRefused(Exception):
    """The detector may not read this source (a policy refusal, not an invalid request)."""


class _Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: UtcDatetime
    end: UtcDatetime
    as_metric: MetricName | None = Field(
        None,
        description="The product metric the series are (e.g. cpu_utilization); default: "
        "Prometheus' __name__, or the collector's name for a CloudWatch metric.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if self.end <= self.start:
            raise ValueError("end is not after start")
        return self


class PrometheusSource(_Range):
    """A PromQL range query on a Prometheus server the detector is allowed to read."""

    url: str = Field(max_length=2048, examples=["http://prometheus:9090"])
    query: str = Field(
        min_length=1, max_length=4096, examples=['{__name__=~"cpu_utilization|memory_utilization"}']
    )
    step: Number = Field(60.0, ge=1, le=86400, description="Resolution in seconds.")

    def points(self) -> int:
        return points_between(self.start.timestamp(), self.end.timestamp(), self.step)


class CloudWatchSource(_Range):
    """One CloudWatch metric of one resource, read with the detector's AWS settings."""

    namespace: str = Field(
        min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_./#:\-]+$", examples=["AWS/EC2"]
    )
    metric: str = Field(
        min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_./#\-]+$", examples=["CPUUtilization"]
    )
    dimensions: dict[str, str] = Field(
        min_length=1, max_length=10, examples=[{"InstanceId": "i-0abc123def4567890"}]
    )
    stat: Statistic | None = Field(None, description="Default: the metric's usual statistic.")
    period: WholeNumber = Field(300, ge=60, le=86400, multiple_of=60, description="Seconds.")

    @model_validator(mode="after")
    def _dimension_text(self) -> CloudWatchSource:
        for name, value in self.dimensions.items():
            if not (0 < len(name) <= 255 and 0 < len(value) <= 1024) or any(
                c in name + value for c in ":,="
            ):
                raise ValueError("dimension names and values: 1-255/1-1024 characters, no : , =")
        return self

    def points(self) -> int:
        return points_between(self.start.timestamp(), self.end.timestamp(), self.period)


def check_allowed(source: PrometheusSource | CloudWatchSource, settings: DetectorSettings) -> None:
    """:class:`SourceRefused` unless the settings let the detector read ``source``;
    :class:`HistoryError` when it asks for more points than allowed."""
    if isinstance(source, PrometheusSource):
        allowed = settings.train_sources_allowed_urls
        try:
            url = check_http_url(source.url)
        except HistoryError as exc:
            raise SourceRefused(str(exc)) from exc
        if not allowed:
            raise SourceRefused(
                "the prometheus source is off: SCOPS_TRAIN_SOURCES_ALLOWED_URLS is empty"
            )
        if not url_allowed(url, allowed):
            raise SourceRefused(
                f"{url[:200]} is not under SCOPS_TRAIN_SOURCES_ALLOWED_URLS; not fetched"
            )
    elif not settings.aws_region:
        raise SourceRefused("the cloudwatch source is off: SCOPS_AWS_REGION is not set")
    if source.points() > settings.train_source_max_points:
        raise HistoryError(
            f"{source.points():,} points per series is more than "
            f"SCOPS_TRAIN_SOURCE_MAX_POINTS={settings.train_source_max_points:,}"
        )


def limits(settings: DetectorSettings) -> FetchLimits:
    return FetchLimits(
        max_points=settings.train_source_max_points,
        max_response_bytes=64 * 1024 * 1024,
        request_timeout_s=settings.train_source_timeout_s,
        deadline_s=settings.train_source_deadline_s,
    )


async def fetch(
    source: PrometheusSource | CloudWatchSource, settings: DetectorSettings
) -> list[HistorySeries]:
    start, end = source.start.timestamp(), source.end.timestamp()
    if isinstance(source, PrometheusSource):
        from shared.prometheus_history import fetch_prometheus

        return await fetch_prometheus(
            source.url,
            source.query,
            start,
            end,
            source.step,
            limits=limits(settings),
            metric=source.as_metric,
        )
    from services.detector.history_cloudwatch import (
        CloudWatchSeries,
        aws_access,
        fetch_cloudwatch,
    )

    series = CloudWatchSeries(source.namespace, source.metric, tuple(source.dimensions.items()))
    one = await fetch_cloudwatch(
        aws_access(settings),
        series,
        start,
        end,
        stat=source.stat,
        period_s=source.period,
        metric=source.as_metric,
        limits=limits(settings),
    )
    return [one]


async def samples_from(
    source: PrometheusSource | CloudWatchSource, settings: DetectorSettings
) -> AsyncIterator[Sample]:
    """The source's samples, fetched when the training job starts reading (gaps left out)."""
    for series in await fetch(source, settings):
        for ts, value in series.points:
            if value == value and abs(value) != float("inf"):
                yield series.resource_id, series.metric, ts, value

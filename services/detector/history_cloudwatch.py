"""Reading one CloudWatch series' history as a :class:`HistorySeries`, for ``scops backtest
--cloudwatch`` and the detector's training from CloudWatch.

The GetMetricData call (paging, retries with backoff) is the collector's
(``shared.cloudwatch.fetch``); this adds what a replay needs: the series spelt as
``NAMESPACE:METRIC:DIMENSION=VALUE[,DIMENSION=VALUE...]``, its name in the product (the
collector's catalogue name when it collects that metric, e.g. ``cpu_utilization`` for EC2
``CPUUtilization``, so the shipped rules match), bounds on points and time, and one error type.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.aws_settings import AwsSettings
from shared.cloudwatch.access import AwsAccess, AwsApi, AwsUnavailable
from shared.cloudwatch.catalogue import DEFAULT_METRICS
from shared.cloudwatch.fetch import fetch_series
from shared.cloudwatch.queries import CloudWatchQuery
from shared.history_series import FetchLimits, HistoryError, HistorySeries, points_between

STATISTICS = ("Average", "Sum", "Maximum", "Minimum", "SampleCount", "p50", "p90", "p99")
_NAME = re.compile(r"^[A-Za-z0-9_./#:\-]{1,255}\Z")
_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True, slots=True)
class CloudWatchSeries:
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, spec: str) -> CloudWatchSeries:
        """``AWS/EC2:CPUUtilization:InstanceId=i-0abc`` (several dimensions comma-separated)."""
        namespace, _, rest = spec.partition(":")
        metric, _, dims = rest.partition(":")
        pairs = [p.partition("=") for p in dims.split(",") if p]
        dimensions = tuple((k.strip(), v.strip()) for k, _, v in pairs)
        if (
            not _NAME.match(namespace)
            or not _NAME.match(metric)
            or not dimensions
            or any(not k or not v for k, v in dimensions)
        ):
            raise HistoryError(
                f"{spec[:200]!r}: expected NAMESPACE:METRIC:DIMENSION=VALUE[,DIMENSION=VALUE], "
                "e.g. AWS/EC2:CPUUtilization:InstanceId=i-0abc123"
            )
        return cls(namespace, metric, dimensions)

    def product_metric(self) -> str:
        """The name the collector gives this metric, else its CloudWatch name in snake case."""
        for spec in DEFAULT_METRICS:
            if (spec.namespace, spec.metric_name) == (self.namespace, self.metric):
                return spec.name
        return _SNAKE.sub("_", self.metric).lower().replace(".", "_")

    def default_stat(self) -> str:
        for spec in DEFAULT_METRICS:
            if (spec.namespace, spec.metric_name) == (self.namespace, self.metric):
                return spec.stat
        return "Average"


def aws_access(settings: AwsSettings) -> AwsAccess:
    """The AWS access the settings give; :class:`HistoryError` when no region is set."""
    if not settings.aws_region:
        raise HistoryError("CloudWatch needs AWS: set SCOPS_AWS_REGION (and credentials)")
    key, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    return AwsAccess(
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        access_key_id=key.get_secret_value() if key else None,
        secret_access_key=secret.get_secret_value() if secret else None,
    )


async def fetch_cloudwatch(
    access: AwsAccess,
    series: CloudWatchSeries,
    start: float,
    end: float,
    *,
    stat: str | None = None,
    period_s: int = 60,
    metric: str | None = None,
    limits: FetchLimits | None = None,
) -> HistorySeries:
    """The series' datapoints from ``start`` to ``end`` (epoch seconds), oldest first."""
    limits = limits or FetchLimits()
    stat = stat or series.default_stat()
    if stat not in STATISTICS:
        raise HistoryError(f"statistic {stat!r}: one of {', '.join(STATISTICS)}")
    if period_s < 1 or (period_s >= 60 and period_s % 60) or (period_s < 60 and 60 % period_s):
        raise HistoryError(f"period {period_s}: 1, 5, 10, 30 or a multiple of 60 seconds")
    if end <= start:
        raise HistoryError("the end of the range is not after its start")
    if points_between(start, end, period_s) > limits.max_points:
        raise HistoryError(
            f"{points_between(start, end, period_s):,} points is more than the "
            f"{limits.max_points:,} allowed; shorten the range or raise the period"
        )
    query = CloudWatchQuery(series.namespace, series.metric, series.dimensions, stat, period_s)
    begin, finish = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    try:
        async with asyncio.timeout(limits.deadline_s):
            points = await fetch_series(AwsApi(access), query, begin, finish)
    except TimeoutError as exc:
        raise HistoryError(
            f"CloudWatch: no complete answer within {limits.deadline_s:g} s"
        ) from exc
    except AwsUnavailable as exc:
        raise HistoryError(f"CloudWatch: {exc}") from exc
    if len(points) > limits.max_points:
        raise HistoryError(f"CloudWatch: more than {limits.max_points:,} datapoints")
    labels = {
        "source": "cloudwatch",
        "aws_region": access.region,
        "aws_namespace": series.namespace,
    }
    labels.update(dict(series.dimensions))
    return HistorySeries(
        resource_id=series.dimensions[0][1][:256],
        metric=metric or series.product_metric(),
        labels=labels,
        points=[(at.timestamp(), value) for at, value in points],
    )

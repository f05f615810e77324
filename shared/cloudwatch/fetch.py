"""Reading datapoints from CloudWatch with GetMetricData: up to 500 series per call, every page
of the answer (``NextToken``), throttling retried with backoff (:class:`AwsApi`).

``fetch_series`` reads one series (for a replay of history); ``fetch_many`` reads many at once
(the collector's polls).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from shared.cloudwatch.access import AwsApi
from shared.cloudwatch.queries import CloudWatchQuery, QueryBatch, batches

Points = list[tuple[datetime, float]]


async def fetch_series(
    aws: AwsApi, query: CloudWatchQuery, start: datetime, end: datetime
) -> Points:
    """Every datapoint of one series from ``start`` to ``end``, oldest first."""
    return (await fetch_many(aws, [query], start, end))[query]


async def fetch_many(
    aws: AwsApi, queries: Sequence[CloudWatchQuery], start: datetime, end: datetime
) -> dict[CloudWatchQuery, Points]:
    """Datapoints of every series from ``start`` to ``end`` (each oldest first); a series with
    none maps to an empty list."""
    found: dict[CloudWatchQuery, Points] = {q: [] for q in queries}
    async with aws.client("cloudwatch") as cloudwatch:
        for batch in batches(list(found)):
            for query, points in (await _fetch_batch(aws, cloudwatch, batch, start, end)).items():
                found[query].extend(points)
    for points in found.values():
        points.sort(key=lambda p: p[0])
    return found


async def _fetch_batch(
    aws: AwsApi, cloudwatch: Any, batch: QueryBatch, start: datetime, end: datetime
) -> dict[CloudWatchQuery, Points]:
    by_id = dict(zip(batch.ids, batch.queries, strict=True))
    found: dict[CloudWatchQuery, Points] = {q: [] for q in batch.queries}
    request: dict[str, Any] = {
        "MetricDataQueries": batch.metric_data_queries(),
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    while True:
        reply = await aws.call(cloudwatch, "get_metric_data", **request)
        for result in reply.get("MetricDataResults", []):
            query = by_id.get(result.get("Id", ""))
            if query is None:
                continue
            for at, value in zip(
                result.get("Timestamps", []), result.get("Values", []), strict=False
            ):
                found[query].append((_utc(at), float(value)))
        token = reply.get("NextToken")
        if not token:
            return found
        request["NextToken"] = token


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)

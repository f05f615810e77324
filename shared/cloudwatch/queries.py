"""GetMetricData queries: one per series, at most 500 per call, ids mapping answers back.

A series is one metric of one resource (namespace, metric, dimensions, statistic, period) in
one account and region; its key names it in the watermark store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit


@dataclass(frozen=True, slots=True)
class CloudWatchQuery:
    """One CloudWatch series: ``namespace:metric`` with its dimensions, one statistic."""

    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str = "Average"
    period_s: int = 60

    def metric_data_query(self, query_id: str) -> dict[str, object]:
        """The ``MetricDataQueries`` member asking for this series."""
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": self.namespace,
                    "MetricName": self.metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
                },
                "Period": self.period_s,
                "Stat": self.stat,
            },
            "ReturnData": True,
        }

    @property
    def key(self) -> str:
        dims = ",".join(f"{k}={v}" for k, v in self.dimensions)
        return f"{self.namespace}:{self.metric}:{dims}:{self.stat}:{self.period_s}"


@dataclass(frozen=True, slots=True)
class QueryBatch:
    """Up to 500 queries sent in one call; ``ids[i]`` answers ``queries[i]``."""

    queries: tuple[CloudWatchQuery, ...]
    ids: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        # Ids must start with a lower-case letter and be unique within the call.
        object.__setattr__(self, "ids", tuple(f"q{i}" for i in range(len(self.queries))))

    def metric_data_queries(self) -> list[dict[str, object]]:
        return [q.metric_data_query(i) for q, i in zip(self.queries, self.ids, strict=True)]


def batches(queries: Sequence[CloudWatchQuery]) -> Iterator[QueryBatch]:
    for start in range(0, len(queries), MAX_QUERIES_PER_CALL):
        yield QueryBatch(tuple(queries[start : start + MAX_QUERIES_PER_CALL]))


def aligned_window(now: datetime, trailing_s: float, period_s: int) -> tuple[datetime, datetime]:
    """The window to ask for: from ``trailing_s`` before ``now`` to ``now``, both on period
    boundaries (CloudWatch answers whole periods; the period still filling is left out, it
    comes complete in a later poll)."""
    epoch = now.timestamp()
    end = epoch - epoch % period_s
    start = end - trailing_s
    start -= start % period_s
    tz = now.tzinfo
    return datetime.fromtimestamp(start, tz), datetime.fromtimestamp(end, tz)


def after_watermark(
    points: Sequence[tuple[datetime, float]], watermark: float | None
) -> list[tuple[datetime, float]]:
    """The datapoints newer than the series' watermark (epoch seconds), oldest first."""
    fresh = [p for p in points if watermark is None or p[0].timestamp() > watermark]
    return sorted(fresh, key=lambda p: p[0])

"""A collected series: the CloudWatch query behind it and what its samples are called on the
metrics stream (resource, metric, labels naming the account and region it came from)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.cloudwatch.catalogue import MetricSpec
from shared.cloudwatch.queries import CloudWatchQuery
from shared.events import MetricSample


@dataclass(frozen=True, slots=True)
class Series:
    query: CloudWatchQuery
    resource_id: str
    metric: str
    account: str | None
    region: str

    @classmethod
    def of(
        cls, spec: MetricSpec, value: str, account: str | None, region: str, period_s: int
    ) -> Series:
        query = CloudWatchQuery(
            spec.namespace, spec.metric_name, ((spec.dimension, value),), spec.stat, period_s
        )
        return cls(query, value, spec.name, account, region)

    @property
    def watermark_field(self) -> str:
        """The series' name in the watermark store: unique across accounts and regions."""
        return f"{self.account or 'default'}:{self.region}:{self.query.key}"

    def labels(self) -> dict[str, str]:
        labels = {
            "source": "cloudwatch",
            "aws_region": self.region,
            "aws_namespace": self.query.namespace,
        }
        if self.account:
            labels["aws_account"] = self.account
        return labels

    def samples(self, points: Sequence[tuple[datetime, float]]) -> list[MetricSample]:
        labels = self.labels()
        return [
            MetricSample(
                resource_id=self.resource_id,
                metric=self.metric,
                value=value,
                timestamp=at,
                labels=labels,
            )
            for at, value in points
        ]

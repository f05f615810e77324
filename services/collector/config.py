"""Collector settings (``SCOPS_`` variables; docs/operator-guide.md, "CloudWatch collector")."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.aws_settings import AwsSettings
from shared.cloudwatch.catalogue import DEFAULT_METRICS, MetricSpec

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[A-Za-z0-9+=,.@_/-]+$")
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"


class AccountConfig(BaseModel):
    """An AWS account to collect from: the role to assume there (none: the collector's own
    credentials) and its regions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role_arn: str | None = Field(None, pattern=ROLE_ARN.pattern)
    regions: list[str] = Field(min_length=1, max_length=32)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if not re.match(REGION, r)]
        if bad:
            raise ValueError(f"not AWS regions: {bad}")
        return value

    @property
    def account_id(self) -> str | None:
        match = ROLE_ARN.match(self.role_arn or "")
        return match.group(1) if match else None


class CollectorSettings(AwsSettings):
    collector_host: str = Field("127.0.0.1", description="Collector listen address.")
    collector_port: int = Field(8004, ge=1, le=65535, description="Collector HTTP port.")
    collector_accounts: list[AccountConfig] = Field(
        default=[],
        description="JSON list of {role_arn, regions} to collect CloudWatch metrics from; "
        "empty: SCOPS_AWS_REGION with the collector's own credentials.",
    )
    collector_metrics: list[MetricSpec] = Field(
        default=list(DEFAULT_METRICS),
        description="JSON list of {namespace, metric_name, dimension, stat, name}: the "
        "CloudWatch metrics collected and their names on the metrics stream.",
    )
    collector_poll_interval_s: float = Field(
        300.0, ge=10, description="Seconds between two GetMetricData polls."
    )
    collector_period_s: int = Field(
        60, ge=60, le=86400, description="CloudWatch period of each datapoint (multiple of 60)."
    )
    collector_trailing_window_s: float = Field(
        900.0,
        ge=60,
        description="Each poll asks for this much history, so datapoints CloudWatch receives "
        "late are still published (once).",
    )
    collector_discovery_interval_s: float = Field(
        900.0, ge=30, description="Seconds between two ListMetrics discoveries of resources."
    )
    collector_opt_in_tag: str | None = Field(
        "SmartCloudOpsRemediation",
        description="Collect only resources with this tag set to SCOPS_ENV (the remediator's "
        "opt-in tag); empty: every resource CloudWatch lists.",
    )

    @field_validator("collector_opt_in_tag")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _consistent(self) -> CollectorSettings:
        if self.collector_period_s % 60:
            raise ValueError("SCOPS_COLLECTOR_PERIOD_S must be a multiple of 60")
        if self.collector_trailing_window_s > self.max_past_s:
            raise ValueError("SCOPS_COLLECTOR_TRAILING_WINDOW_S exceeds SCOPS_MAX_PAST_S")
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("set both SCOPS_AWS_ACCESS_KEY_ID and SCOPS_AWS_SECRET_ACCESS_KEY")
        names = [(m.namespace, m.metric_name, m.dimension, m.stat) for m in self.collector_metrics]
        if len(set(names)) != len(names):
            raise ValueError("SCOPS_COLLECTOR_METRICS lists a metric twice")
        return self

    @property
    def http_host(self) -> str:
        return self.collector_host

    @property
    def http_port(self) -> int:
        return self.collector_port

    @property
    def enabled(self) -> bool:
        """Whether there is any AWS to collect from."""
        return self.aws_region is not None or bool(self.collector_accounts)

    @property
    def accounts(self) -> list[AccountConfig]:
        if self.collector_accounts:
            return list(self.collector_accounts)
        return [AccountConfig(regions=[self.aws_region])] if self.aws_region else []

"""Which CloudWatch metrics are collected and what they are called on the metrics stream.

Names follow the product's own (``cpu_utilization`` for EC2 ``CPUUtilization``), so the shipped
remediation rules match them. RDS CPU is ``rds_cpu_utilization``: a database is not an instance
the CPU rules could act on through SSM.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Statistic = Literal["Average", "Sum", "Maximum", "Minimum", "SampleCount", "p50", "p90", "p99"]
# The tagging API's resource type of each namespace: what the opt-in tag is looked up on.
RESOURCE_TYPES: dict[str, str] = {
    "AWS/EC2": "ec2:instance",
    "AWS/RDS": "rds:db",
    "AWS/ApplicationELB": "elasticloadbalancing:loadbalancer",
    "AWS/ELB": "elasticloadbalancing:loadbalancer",
}


class MetricSpec(BaseModel):
    """One CloudWatch metric to collect, per resource found with ``dimension``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str = Field(min_length=1, max_length=255, examples=["AWS/EC2"])
    metric_name: str = Field(min_length=1, max_length=255, examples=["CPUUtilization"])
    dimension: str = Field(
        min_length=1, max_length=255, description="The dimension naming the resource."
    )
    stat: Statistic = "Average"
    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_.:\-]{0,127}$",
        description="The metric's name on the metrics stream.",
    )


def _spec(namespace: str, metric: str, dimension: str, stat: Statistic, name: str) -> MetricSpec:
    return MetricSpec(
        namespace=namespace, metric_name=metric, dimension=dimension, stat=stat, name=name
    )


# The statistic each metric is meaningful with: utilisation and latency averaged per period,
# counts and bytes summed.
DEFAULT_METRICS: tuple[MetricSpec, ...] = (
    _spec("AWS/EC2", "CPUUtilization", "InstanceId", "Average", "cpu_utilization"),
    _spec("AWS/EC2", "NetworkIn", "InstanceId", "Sum", "network_in_bytes"),
    _spec("AWS/EC2", "NetworkOut", "InstanceId", "Sum", "network_out_bytes"),
    _spec("AWS/EC2", "DiskWriteBytes", "InstanceId", "Sum", "disk_write_bytes"),
    _spec("AWS/EC2", "DiskWriteOps", "InstanceId", "Sum", "disk_write_ops"),
    _spec("AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "Average", "rds_cpu_utilization"),
    _spec("AWS/ApplicationELB", "RequestCount", "LoadBalancer", "Sum", "request_count"),
    _spec("AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", "Average", "response_time_s"),
    _spec(
        "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", "Sum", "http_5xx_count"
    ),
    _spec("AWS/ELB", "RequestCount", "LoadBalancerName", "Sum", "request_count"),
    _spec("AWS/ELB", "Latency", "LoadBalancerName", "Average", "latency_s"),
    _spec("AWS/ELB", "HTTPCode_Backend_5XX", "LoadBalancerName", "Sum", "http_5xx_count"),
)


def resource_from_arn(arn: str) -> tuple[str, str] | None:
    """(namespace family, dimension value) of a tagged resource's ARN, as CloudWatch names it:
    ``...:instance/i-0abc`` -> ``i-0abc``; ``...:db:orders`` -> ``orders``;
    ``...:loadbalancer/app/web/50dc6c49`` -> ``app/web/50dc6c49`` (ALB);
    ``...:loadbalancer/web`` -> ``web`` (classic ELB). None: not a kind collected."""
    parts = arn.split(":", 5)
    if len(parts) != 6:
        return None
    service, rest = parts[2], parts[5]
    if service == "ec2" and rest.startswith("instance/"):
        return "AWS/EC2", rest.removeprefix("instance/")
    if service == "rds" and rest.startswith("db:"):
        return "AWS/RDS", rest.removeprefix("db:")
    if service == "elasticloadbalancing" and rest.startswith("loadbalancer/"):
        name = rest.removeprefix("loadbalancer/")
        if name.startswith(("app/", "net/")):
            return "AWS/ApplicationELB", name
        if "/" not in name:
            return "AWS/ELB", name
    return None

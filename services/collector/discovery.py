"""Which resources to collect: the series ``ListMetrics`` knows (every page) for each metric
in the catalogue, narrowed to resources carrying the opt-in tag (the tag the remediator's IAM
policy requires before it acts, found with the tagging API)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from shared.cloudwatch.access import AwsApi
from shared.cloudwatch.catalogue import RESOURCE_TYPES, MetricSpec, resource_from_arn

log = structlog.get_logger("collector.discovery")

# Series with no datapoint in this long are left out (ListMetrics keeps a metric two weeks).
RECENTLY_ACTIVE = "PT3H"


async def opted_in(aws: AwsApi, namespaces: set[str], tag: str, value: str) -> set[tuple[str, str]]:
    """(namespace, dimension value) of every resource tagged ``tag=value``."""
    types = sorted({RESOURCE_TYPES[n] for n in namespaces if n in RESOURCE_TYPES})
    found: set[tuple[str, str]] = set()
    if not types:
        return found
    request: dict[str, object] = {
        "TagFilters": [{"Key": tag, "Values": [value]}],
        "ResourceTypeFilters": types,
    }
    async with aws.client("resourcegroupstaggingapi") as tagging:
        while True:
            reply = await aws.call(tagging, "get_resources", **request)
            for mapping in reply.get("ResourceTagMappingList", []):
                resource = resource_from_arn(mapping.get("ResourceARN", ""))
                if resource is not None:
                    found.add(resource)
            token = reply.get("PaginationToken")
            if not token:
                return found
            request["PaginationToken"] = token


async def listed(aws: AwsApi, spec: MetricSpec) -> set[str]:
    """Dimension values with a series of ``spec`` that has exactly that one dimension (not the
    per-group or per-zone aggregates)."""
    values: set[str] = set()
    request: dict[str, object] = {
        "Namespace": spec.namespace,
        "MetricName": spec.metric_name,
        "Dimensions": [{"Name": spec.dimension}],
        "RecentlyActive": RECENTLY_ACTIVE,
    }
    async with aws.client("cloudwatch") as cloudwatch:
        while True:
            reply = await aws.call(cloudwatch, "list_metrics", **request)
            for metric in reply.get("Metrics", []):
                dims = metric.get("Dimensions", [])
                if len(dims) == 1 and dims[0].get("Name") == spec.dimension:
                    values.add(str(dims[0]["Value"]))
            token = reply.get("NextToken")
            if not token:
                return values
            request["NextToken"] = token


async def discover(
    aws: AwsApi, specs: Sequence[MetricSpec], tag: str | None, tag_value: str
) -> dict[MetricSpec, list[str]]:
    """For each metric, the resources to collect it for (``tag`` None: every one listed)."""
    allowed = None
    if tag is not None:
        allowed = await opted_in(aws, {s.namespace for s in specs}, tag, tag_value)
    found: dict[MetricSpec, list[str]] = {}
    for spec in specs:
        values = await listed(aws, spec)
        if allowed is not None:
            values = {v for v in values if (spec.namespace, v) in allowed}
        found[spec] = sorted(values)
    log.info("resources_discovered", series=sum(len(v) for v in found.values()))
    return found

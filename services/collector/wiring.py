"""The composition root: the collector's parts built once from the settings and the Redis
client the app's lifespan created."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from redis.asyncio import Redis

from services.collector.config import CollectorSettings
from services.collector.poller import Collector, PollPlan, Target
from services.collector.publisher import Publisher
from shared.cloudwatch.access import AwsAccess, AwsApi


def base_access(settings: CollectorSettings) -> AwsAccess:
    key, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    region = settings.aws_region or settings.accounts[0].regions[0]
    return AwsAccess(
        region=region,
        endpoint_url=settings.aws_endpoint_url,
        access_key_id=key.get_secret_value() if key else None,
        secret_access_key=secret.get_secret_value() if secret else None,
    )


def targets(settings: CollectorSettings) -> list[Target]:
    """One target per account and region (a role's sessions are shared by its regions' APIs
    only through STS caching per API: one assumption per region and expiry)."""
    if not settings.enabled:
        return []
    base = base_access(settings)
    return [
        Target(AwsApi(base.in_region(region, account.role_arn)), account.account_id, region)
        for account in settings.accounts
        for region in account.regions
    ]


@dataclass
class CollectorService:
    settings: CollectorSettings
    collector: Collector

    @asynccontextmanager
    async def running(self, grace_s: float = 10.0) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(
            self.collector.run(stop, self.settings.collector_poll_interval_s),
            name="collector:poll",
        )
        try:
            yield
        finally:
            stop.set()
            with suppress(TimeoutError):
                await asyncio.wait_for(task, timeout=grace_s)


def build(settings: CollectorSettings, redis: Redis) -> CollectorService:
    plan = PollPlan(
        specs=list(settings.collector_metrics),
        period_s=settings.collector_period_s,
        trailing_window_s=settings.collector_trailing_window_s,
        discovery_interval_s=settings.collector_discovery_interval_s,
        opt_in_tag=settings.collector_opt_in_tag,
        opt_in_value=settings.env,
    )
    publisher = Publisher(redis, settings.metric_shards, settings.stream_maxlen)
    return CollectorService(settings, Collector(targets(settings), plan, publisher))

"""The composition root: the notifier's parts built once from the settings and the clients
the app's lifespan created, and run together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis

from services.notifier.config import DEFAULT_RECEIVER, NotifierSettings, ReceiverConfig
from services.notifier.core.render import Channel, Links
from services.notifier.core.routing import Router
from services.notifier.dead_letters import DeadLetters
from services.notifier.delivery.courier import Courier, Receiver
from services.notifier.delivery.pacing import RateLimiter, RetryPolicy
from services.notifier.delivery.webhook_urls import (
    AwsAccess,
    ParameterStoreUrl,
    StaticUrl,
    UrlSource,
)
from services.notifier.delivery.worker import DeliveryWorker
from services.notifier.group_store import GroupStore
from services.notifier.history import History
from services.notifier.intake import Intake
from services.notifier.scheduler import Composer, Scheduler
from services.notifier.silence_store import SilenceStore
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options
from shared.stream_group import running
from shared.streams import ANOMALIES, GROUP_NOTIFIER, REMEDIATIONS


@dataclass
class Notifier:
    settings: NotifierSettings
    receivers: dict[str, Receiver]
    router: Router
    groups: GroupStore
    silences: SilenceStore
    history: History
    dead_letters: DeadLetters
    intake: Intake
    consumer: StreamConsumer
    scheduler: Scheduler
    workers: list[DeliveryWorker]

    @asynccontextmanager
    async def running(self, grace_s: float = 12.0) -> AsyncIterator[None]:
        """Consumer, scheduler and one delivery worker per receiver in the background; on
        exit each finishes what it holds (an unfinished delivery stays pending)."""
        await self.consumer.ensure_groups()
        for worker in self.workers:
            await worker.ensure_group()
        async with running([self.consumer, self.scheduler, *self.workers], grace_s):
            yield


def _aws(settings: NotifierSettings) -> AwsAccess | None:
    if settings.aws_region is None:
        return None
    return AwsAccess(
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        access_key_id=settings.aws_access_key_id,
        secret_access_key=settings.aws_secret_access_key,
    )


def _url_source(
    settings: NotifierSettings, parameter: str | None, fallback: ReceiverConfig | None
) -> UrlSource:
    aws = _aws(settings)
    static = fallback.url if fallback is not None else settings.slack_webhook_url
    if aws is None or parameter is None:
        return StaticUrl(static)
    name = parameter.replace("{env}", settings.env)
    return ParameterStoreUrl(aws, name, fallback=static, ttl_s=settings.webhook_url_cache_s)


def build_receivers(settings: NotifierSettings) -> dict[str, Receiver]:
    receivers = {
        DEFAULT_RECEIVER: Receiver(
            DEFAULT_RECEIVER,
            Channel.SLACK,
            _url_source(settings, settings.slack_webhook_parameter, None),
            settings.webhook_rate_per_s,
            outbox_when_unset=True,
        )
    }
    for config in settings.notify_receivers:
        receivers[config.name] = Receiver(
            config.name,
            config.type,
            _url_source(settings, config.parameter, config),
            config.rate_per_s or settings.webhook_rate_per_s,
        )
    return receivers


def build(settings: NotifierSettings, redis: Redis, http: httpx.AsyncClient) -> Notifier:
    receivers = build_receivers(settings)
    channels = {name: r.channel for name, r in receivers.items()}
    router = Router(
        list(settings.notify_routes),
        default_receiver=DEFAULT_RECEIVER,
        group_by=settings.group_labels,
        timing=settings.timing,
    )
    groups = GroupStore(redis, settings.alert_ttl_s)
    silences = SilenceStore(redis)
    history = History(redis, settings.history_size, settings.outbox_size)
    dead_letters = DeadLetters(redis, settings.dead_letter_maxlen)
    links = Links(
        grafana=settings.grafana_url_template,
        record=settings.record_url_template,
        console=settings.console_public_url,
    )
    intake = Intake(
        redis, router, groups, silences, channels, alert_ttl_s=settings.alert_ttl_s, links=links
    )
    options = consumer_options(settings)
    name = consumer_name("notifier")
    consumer = StreamConsumer(
        redis,
        streams=[ANOMALIES, REMEDIATIONS],
        group=GROUP_NOTIFIER,
        consumer=name,
        handler=intake,
        options=options,
    )
    scheduler = Scheduler(
        redis,
        groups,
        silences,
        dead_letters,
        Composer(channels, DEFAULT_RECEIVER, links),
        tick_s=min(0.2, max(settings.group_wait_s / 4, 0.05)),
    )
    policy = RetryPolicy(
        attempts=settings.delivery_attempts,
        base_s=settings.retry_base_s,
        max_wait_s=settings.retry_max_wait_s,
        retry_after_max_s=settings.retry_after_max_s,
        throttled_max_s=settings.throttled_max_s,
    )
    limiter = RateLimiter(redis)
    bus = EventBus(redis, settings.stream_maxlen)
    workers = [
        DeliveryWorker(
            redis,
            Courier(receiver, http, policy, limiter),
            history=history,
            dead_letters=dead_letters,
            bus=bus,
            consumer=name,
            options=options,
        )
        for receiver in receivers.values()
    ]
    return Notifier(
        settings,
        receivers,
        router,
        groups,
        silences,
        history,
        dead_letters,
        intake,
        consumer,
        scheduler,
        workers,
    )

"""The composition root: the gateway's parts built once from the settings and the clients the
app's lifespan created. Routes reach them through :mod:`services.gateway.deps`, never through
loose attributes of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis

from services.gateway.anomaly_index import AnomalyIndex
from services.gateway.api_keys import KeyStore
from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.classifier_loading import ClassifierLoader
from services.gateway.chatops.history import ChatHistory
from services.gateway.chatops.wiring import build_chatops
from services.gateway.config import GatewaySettings
from services.gateway.detector_routing import DetectorProcesses, route_through
from services.gateway.people import People
from services.gateway.proxy import Backends
from services.gateway.ratelimit import RateLimiter
from services.gateway.remote_write_route import RemoteWrite, build_remote_write
from services.gateway.slack.wiring import SlackParts, build_slack
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options, running
from shared.streams import ANOMALIES, GROUP_GATEWAY


@dataclass
class Gateway:
    settings: GatewaySettings
    redis: Redis
    bus: EventBus
    keys: KeyStore
    people: People
    ingest_limiter: RateLimiter
    chatops_limiter: RateLimiter
    remote_write: RemoteWrite
    backends: Backends
    anomaly_index: AnomalyIndex
    chat_engine: ChatEngine
    chat_history: ChatHistory
    chat_classifier: ClassifierLoader
    slack: SlackParts
    consumers: list[StreamConsumer] = field(default_factory=list)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The anomaly indexer in the background; the ChatOps classifier trained in a thread
        (unless left for the first message); Slack's pending follow-ups closed at exit."""
        if self.settings.chatops_warm_start:
            self.chat_classifier.start()
        try:
            async with running(self.consumers):
                yield
        finally:
            await self.slack.followups.close()


def build(settings: GatewaySettings, redis: Redis, http: httpx.AsyncClient) -> Gateway:
    backends = Backends(
        http,
        {
            "detector": settings.detector_processes[0],
            "remediator": settings.remediator_url,
            "notifier": settings.notifier_url,
            "history": settings.history_url,
        },
        settings.internal_token.get_secret_value(),
    )
    index = AnomalyIndex(redis, settings.anomaly_index_days)
    detectors = DetectorProcesses(tuple(settings.detector_processes), settings.metric_shards)
    backends.detector_route = route_through(detectors, index)
    indexer = StreamConsumer(
        redis,
        streams=[ANOMALIES],
        group=GROUP_GATEWAY,
        consumer=consumer_name("gateway"),
        handler=index.handle,
        options=consumer_options(settings),
    )
    chatops_limiter = RateLimiter(redis, "chatops", settings.chatops_rate_per_min)
    chatops = build_chatops(settings, redis, http, backends, index)
    slack = build_slack(settings, redis, http, backends, index, chatops, chatops_limiter)
    return Gateway(
        settings=settings,
        redis=redis,
        bus=EventBus(redis, settings.stream_maxlen),
        keys=KeyStore(redis),
        people=People(settings.people),
        ingest_limiter=RateLimiter(redis, "ingest", settings.ingest_rate_per_min),
        chatops_limiter=chatops_limiter,
        remote_write=build_remote_write(settings, redis),
        backends=backends,
        anomaly_index=index,
        chat_engine=chatops.engine,
        chat_history=chatops.history,
        chat_classifier=chatops.classifier,
        slack=slack,
        consumers=[indexer, slack.clicks],
    )

"""The gateway: the public entry point (``create_app`` is the uvicorn factory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from services.gateway import remote_write_route, routes_anomalies, routes_metrics, routes_proxy
from services.gateway.anomaly_index import AnomalyIndex
from services.gateway.api_keys import KeyStore
from services.gateway.auth import authenticate_before_body
from services.gateway.body_limit import BodyLimitMiddleware
from services.gateway.chatops import routes as chatops_routes
from services.gateway.chatops.wiring import build_chatops
from services.gateway.config import GatewaySettings
from services.gateway.console.mount import mount_console
from services.gateway.detector_routing import DetectorProcesses
from services.gateway.proxy import Backends
from services.gateway.ratelimit import RateLimiter
from services.gateway.slack import routes as slack_routes
from services.gateway.slack.wiring import build_slack
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options, running
from shared.logging import configure_logging
from shared.streams import ANOMALIES, GROUP_GATEWAY
from shared.web import setup_app

DESCRIPTION = """Ingest metrics and alerts; query anomalies, remediations and ChatOps.

Every call needs an API key (`X-API-Key: scops_...` or `Authorization: Bearer scops_...`),
created with `scops keys create --name NAME --role viewer|operator|admin|ingest`, except
`/slack/*`, which Slack signs with the app's signing secret (see docs/chatops.md).
Errors are RFC 9457 problem documents (`application/problem+json`)."""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        http = httpx.AsyncClient(timeout=settings.proxy_timeout_s)
        app.state.redis = redis
        app.state.bus = EventBus(redis, settings.stream_maxlen)
        app.state.keys = KeyStore(redis)
        app.state.ingest_limiter = RateLimiter(redis, "ingest", settings.ingest_rate_per_min)
        app.state.chatops_limiter = RateLimiter(redis, "chatops", settings.chatops_rate_per_min)
        app.state.remote_write = remote_write_route.build_remote_write(settings, redis)
        app.state.backends = Backends(
            http,
            {
                "detector": settings.detector_processes[0],
                "remediator": settings.remediator_url,
                "notifier": settings.notifier_url,
                "history": settings.history_url,
            },
            settings.internal_token.get_secret_value(),
        )
        app.state.detectors = DetectorProcesses(
            tuple(settings.detector_processes), settings.metric_shards
        )
        index = AnomalyIndex(redis, settings.anomaly_index_days)
        app.state.anomaly_index = index
        indexer = StreamConsumer(
            redis,
            streams=[ANOMALIES],
            group=GROUP_GATEWAY,
            consumer=consumer_name("gateway"),
            handler=index.handle,
            options=consumer_options(settings),
        )
        chatops = build_chatops(settings, redis, http, app.state.backends, index)
        app.state.chat_engine, app.state.chat_history = chatops.engine, chatops.history
        slack = build_slack(
            settings, redis, http, app.state.backends, index, chatops, app.state.chatops_limiter
        )
        app.state.slack_verifier = slack.verifier
        app.state.slack_commands = slack.commands
        app.state.slack_interactions = slack.interactions
        try:
            async with running([indexer]):
                yield
        finally:
            await slack.followups.close()
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI gateway",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Operation ids are the handlers' names: stable, short, readable in generated clients.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "gateway", {"redis": redis_ready}, settings=settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.include_router(routes_metrics.router)
    app.include_router(remote_write_route.router)
    app.include_router(routes_anomalies.router)
    app.include_router(routes_proxy.router())
    app.include_router(chatops_routes.router)
    app.include_router(slack_routes.router)
    slack_routes.add_slack_problem_handlers(app)
    mount_console(app)
    authenticate_before_body(app)
    return app

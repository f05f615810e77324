"""The notifier: delivers what happened, and what needs a decision, to Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Query
from redis.asyncio import Redis

from services.notifier.config import NotifierSettings
from services.notifier.consumer import RecordHandler
from services.notifier.delivery import WebhookSender
from services.notifier.outbox import Outbox
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options, running
from shared.logging import configure_logging
from shared.streams import GROUP_NOTIFIER, REMEDIATIONS
from shared.web import setup_app


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    configure_logging("notifier", settings.log_level, settings.log_json)
    webhook = settings.slack_webhook_url.get_secret_value() if settings.slack_webhook_url else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url)
        http = httpx.AsyncClient(timeout=settings.delivery_timeout_s)
        app.state.redis = redis
        app.state.outbox = Outbox(redis, settings.outbox_size)
        handler = RecordHandler(
            redis,
            EventBus(redis, settings.stream_maxlen),
            WebhookSender(http, settings.delivery_attempts, settings.retry_max_wait_s),
            app.state.outbox,
            webhook,
        )
        consumer = StreamConsumer(
            redis,
            streams=[REMEDIATIONS],
            group=GROUP_NOTIFIER,
            consumer=consumer_name("notifier"),
            handler=handler,
            options=consumer_options(settings),
        )
        try:
            async with running([consumer]):
                yield
        finally:
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI notifier",
        version="0.1.0",
        description="Slack and webhook notifications.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "notifier", {"redis": redis_ready})

    @app.get(
        "/notifications/outbox",
        tags=["notifications"],
        summary="Messages kept locally (no webhook configured), newest first",
    )
    async def outbox(limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = await app.state.outbox.recent(limit)
        return items

    return app

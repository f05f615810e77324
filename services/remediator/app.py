"""The remediator API: dispatches anomaly events to the Celery workers, counts their records
for Prometheus, sweeps expired approvals, exports the safety layer's state as gauges, and serves
status, evaluation, manual requests, approvals, maintenance windows, rules and the audit log.

The rules file is validated at start-up: a bad file stops the service with the file, line and
reason, rather than running without rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import redis
import structlog
from fastapi import FastAPI
from redis.asyncio import Redis

from services.remediator import metrics
from services.remediator.api import routes_admin, routes_approvals, routes_remediation
from services.remediator.api.problems import add_problem_handlers
from services.remediator.background import sweep_forever
from services.remediator.celery_config import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.dispatcher import AnomalyDispatcher
from services.remediator.errors import RulesFileError
from services.remediator.gauges import refresh_forever
from services.remediator.handling.scheduling import CeleryScheduler
from services.remediator.wiring import build
from shared.bus import StreamConsumer, consumer_name, consumer_options, running
from shared.logging import configure_logging
from shared.streams import ANOMALIES, GROUP_REMEDIATOR, REMEDIATIONS
from shared.web import setup_app

log = structlog.get_logger("remediator.app")
RECORDS_GATHER_MS = 200.0

DESCRIPTION = """Remediation rules, safety checks, approvals and actions (internal service).

Mutating endpoints require the `X-Internal-Token` header; the gateway proxies them with roles.
Errors are RFC 9457 problem documents."""


def create_app(settings: RemediatorSettings | None = None) -> FastAPI:
    settings = settings or RemediatorSettings()
    configure_logging("remediator", settings.log_level, settings.log_json)
    metrics.initialise_labels()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = redis.Redis.from_url(settings.redis_url)
        async_redis = Redis.from_url(settings.redis_url)
        celery = create_celery(settings)
        remediator = build(settings, client, CeleryScheduler(celery))
        try:
            remediator.rules.load_and_publish()
        except RulesFileError as exc:
            log.error(
                "rules_file_refused",
                file=exc.file,
                problems=[str(p) for p in exc.problems],
            )
            celery.close()
            client.close()
            await async_redis.aclose()
            raise
        app.state.redis = async_redis
        app.state.remediator = remediator
        options = consumer_options(settings)
        dispatcher = AnomalyDispatcher(celery, async_redis)
        counter = metrics.RecordCounter(async_redis)
        consumers = [
            StreamConsumer(
                async_redis,
                streams=[ANOMALIES],
                group=GROUP_REMEDIATOR,
                consumer=consumer_name("remediator"),
                handler=dispatcher,
                events_handler=dispatcher.dispatch,
                options=options,
            ),
            StreamConsumer(
                async_redis,
                streams=[REMEDIATIONS],
                group=metrics.METRICS_GROUP,
                consumer=consumer_name("remediator-metrics"),
                handler=counter,
                events_handler=counter.count_all,
                # Counting may wait: records arriving one by one are counted many at a time.
                options=replace(options, gather_ms=RECORDS_GATHER_MS),
            ),
        ]
        stop = asyncio.Event()
        background = [
            asyncio.create_task(
                sweep_forever(remediator, settings.sweep_interval_s, stop), name="sweep"
            ),
            asyncio.create_task(refresh_forever(remediator, stop), name="gauges"),
        ]
        try:
            async with running(consumers):
                yield
        finally:
            stop.set()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            celery.close()
            client.close()
            await async_redis.aclose()

    app = FastAPI(
        title="Smart CloudOps AI remediator",
        version="0.2.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings

    async def redis_ready() -> None:
        await app.state.redis.ping()

    setup_app(app, "remediator", {"redis": redis_ready}, settings=settings)
    add_problem_handlers(app)
    app.include_router(routes_remediation.router)
    app.include_router(routes_approvals.router)
    app.include_router(routes_admin.router)
    return app

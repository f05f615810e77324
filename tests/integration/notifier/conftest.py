"""The notifier against real parts: the suite's Redis, the Slack stand-in (a real HTTP server)
and, for Parameter Store, moto's server on loopback. In-process tests run the notifier's own
app (lifespan and all) and talk to its API over ASGI; restart tests run it as a process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis as AsyncRedis

from services.notifier import redis_keys
from services.notifier.app import create_app
from services.notifier.config import NotifierSettings
from services.notifier.wiring import Notifier
from shared.bus import EventBus
from shared.events import AnomalyEvent, AnomalyResolved, Event, RemediationRecord
from shared.streams import ANOMALIES, GROUP_NOTIFIER, REMEDIATIONS
from shared.web import INTERNAL_TOKEN_HEADER
from tests.support import moto_server as moto
from tests.support.slack_standin import SlackStandIn

TOKEN = "notifier-test-token"
ADMIN = {INTERNAL_TOKEN_HEADER: TOKEN}


def fast_settings(redis_url: str, webhook: str | None, **overrides: Any) -> dict[str, Any]:
    """Short waits everywhere, so the whole file runs in seconds."""
    values: dict[str, Any] = {
        "env": "test",
        "redis_url": redis_url,
        "internal_token": TOKEN,
        "slack_webhook_url": webhook,
        "group_wait_s": 0.3,
        "group_interval_s": 0.6,
        "consumer_block_ms": 100,
        "claim_idle_ms": 1000,
        "retry_base_s": 0.05,
        "retry_max_wait_s": 0.3,
        "webhook_rate_per_s": 100,
    }
    values.update(overrides)
    return values


@dataclass
class Running:
    notifier: Notifier
    api: httpx.AsyncClient
    bus: EventBus
    redis: AsyncRedis

    async def publish(self, *events: Event) -> None:
        for event in events:
            anomaly = isinstance(event, AnomalyEvent | AnomalyResolved)
            assert anomaly or isinstance(event, RemediationRecord)
            await self.bus.publish(ANOMALIES if anomaly else REMEDIATIONS, event)

    async def deliveries(self, **params: Any) -> list[dict[str, Any]]:
        reply = await self.api.get("/notifications", params={"limit": 1000, **params})
        assert reply.status_code == 200, reply.text
        rows: list[dict[str, Any]] = reply.json()
        return rows

    async def wait_deliveries(
        self, count: int = 1, timeout: float = 10.0, **params: Any
    ) -> list[dict[str, Any]]:
        """Recorded deliveries (newest first) once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while len(rows := await self.deliveries(**params)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(rows)} of {count} deliveries with {params}")
            await asyncio.sleep(0.05)
        return rows

    async def settled(self, horizon_s: float = 60.0, timeout: float = 10.0) -> None:
        """Wait until the notifier has nothing more to say within ``horizon_s``: every event
        published is taken in, no group is due to speak sooner, and every queued message is
        delivered. What Slack holds then is all it will get; no sleep is a guess at "long
        enough"."""
        deadline = time.monotonic() + timeout
        while not await self._quiet(horizon_s):
            if time.monotonic() > deadline:
                raise AssertionError(f"the notifier did not settle within {timeout}s")
            await asyncio.sleep(0.05)

    async def _quiet(self, horizon_s: float) -> bool:
        for stream in (ANOMALIES, REMEDIATIONS):
            if not await self._drained(stream, GROUP_NOTIFIER):
                return False
        soonest = await self.redis.zrange(redis_keys.GROUPS_DUE, 0, 0, withscores=True)
        if soonest and soonest[0][1] < time.time() + horizon_s:
            return False
        for receiver in self.notifier.receivers:
            if not await self._drained(redis_keys.queue(receiver), redis_keys.DELIVERY_GROUP):
                return False
        return True

    async def _drained(self, stream: str, group: str) -> bool:
        if not await self.redis.exists(stream):
            return True
        for info in await self.redis.xinfo_groups(stream):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name == group:
                return bool(info["pending"] == 0 and info["lag"] == 0)
        return True

    async def pending(self, receiver: str = "slack") -> int:
        """Queue entries read and not yet acknowledged."""
        info = await self.redis.xpending(redis_keys.queue(receiver), redis_keys.DELIVERY_GROUP)
        return int(info["pending"])


Start = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_notifier(
    redis_url: str, async_redis: AsyncRedis, slack: SlackStandIn
) -> AsyncIterator[Start]:
    """Starts the notifier app in this process (its lifespan runs the intake, the scheduler
    and the delivery workers); stopped at the end of the test."""
    stack = AsyncExitStack()

    async def start(**overrides: Any) -> Running:
        overrides.setdefault("slack_webhook_url", slack.url)
        webhook = overrides.pop("slack_webhook_url")
        settings = NotifierSettings.model_validate(fast_settings(redis_url, webhook, **overrides))
        app = create_app(settings)
        await stack.enter_async_context(app.router.lifespan_context(app))
        api = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier")
        )
        return Running(app.state.notifier, api, EventBus(async_redis, 10_000), async_redis)

    yield start
    await stack.aclose()


async def eventually(
    check: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.05)


def accepted_at(slack: SlackStandIn, token: str) -> list[dict[str, Any]]:
    path = slack.webhook(token).split(str(slack.port), 1)[1]
    return [r.body for r in slack.received if r.status == 200 and r.path == path]


def message_text(body: dict[str, Any]) -> str:
    return json.dumps(body)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto.moto_server() as url:
        yield url


@pytest.fixture
def aws_url(moto_url: str) -> str:
    return moto.reset(moto_url)

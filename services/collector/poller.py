"""The collector's loop: for every account and region, discover the series now and then, and
every poll read the trailing window from CloudWatch and publish what is new."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from services.collector.core.series import Series
from services.collector.discovery import discover
from services.collector.metrics import DATAPOINTS, POLLS, SERIES
from services.collector.publisher import Published, Publisher
from shared.cloudwatch.access import AwsApi, AwsUnavailable
from shared.cloudwatch.catalogue import MetricSpec
from shared.cloudwatch.fetch import fetch_many
from shared.cloudwatch.queries import aligned_window

log = structlog.get_logger("collector")


@dataclass
class Target:
    """One account in one region, and what was found there."""

    aws: AwsApi
    account: str | None
    region: str
    series: list[Series] = field(default_factory=list)
    discovered_at: float | None = None
    last_error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.account or 'default'}/{self.region}"


@dataclass(frozen=True)
class PollPlan:
    specs: Sequence[MetricSpec]
    period_s: int
    trailing_window_s: float
    discovery_interval_s: float
    opt_in_tag: str | None
    opt_in_value: str


class Collector:
    def __init__(
        self,
        targets: list[Target],
        plan: PollPlan,
        publisher: Publisher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.targets = targets
        self.plan = plan
        self.publisher = publisher
        self.clock = clock
        self.last_poll: datetime | None = None

    async def poll_once(self) -> Published:
        """One poll of every target; a target that fails is logged and retried next poll."""
        total = Published()
        for target in self.targets:
            try:
                done = await self._poll(target)
            except (AwsUnavailable, RuntimeError) as exc:
                target.last_error = str(exc)
                POLLS.labels(outcome="failed").inc()
                log.warning("poll_failed", target=target.name, error=str(exc))
                continue
            target.last_error = None
            POLLS.labels(outcome="ok").inc()
            total.samples += done.samples
            total.entries += done.entries
        SERIES.set(sum(len(t.series) for t in self.targets))
        self.last_poll = self.clock()
        return total

    async def _poll(self, target: Target) -> Published:
        plan = self.plan
        stale = time.monotonic() - (target.discovered_at or 0.0) >= plan.discovery_interval_s
        if target.discovered_at is None or stale:
            found = await discover(target.aws, plan.specs, plan.opt_in_tag, plan.opt_in_value)
            target.series = [
                Series.of(spec, value, target.account, target.region, plan.period_s)
                for spec, values in found.items()
                for value in values
            ]
            target.discovered_at = time.monotonic()
        if not target.series:
            return Published()
        start, end = aligned_window(self.clock(), plan.trailing_window_s, plan.period_s)
        by_query = {s.query: s for s in target.series}
        points = await fetch_many(target.aws, list(by_query), start, end)
        correlation_id = uuid.uuid4().hex
        done = await self.publisher.publish(
            [(by_query[q], p) for q, p in points.items()], correlation_id
        )
        DATAPOINTS.inc(done.samples)
        log.info(
            "poll_published",
            target=target.name,
            series=len(target.series),
            samples=done.samples,
            correlation_id=correlation_id,
        )
        return done

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self.poll_once()
            except Exception:  # Redis down, a bug: keep the loop alive, say so
                log.exception("poll_crashed")
            wait = max(interval_s - (time.monotonic() - started), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

"""Delivering one message to one receiver: tries, waits, URL refresh, outcome.

The courier never decides what happens to the queue entry; it reports an outcome (delivered,
kept in the outbox, or failed with the last error) or None when the notifier is stopping
in the middle of a wait (the entry then stays pending for the next process).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import structlog
from pydantic import SecretStr

from services.notifier import metrics
from services.notifier.core.render import Channel
from services.notifier.delivery.http_post import THROTTLED, PostResult, post_json
from services.notifier.delivery.pacing import RateLimiter, RetryPolicy
from services.notifier.delivery.redaction import scrub
from services.notifier.delivery.webhook_urls import UrlSource
from services.notifier.errors import WebhookUrlUnavailable
from services.notifier.outgoing import OutgoingMessage

log = structlog.get_logger("notifier.delivery")

Pause = Callable[[float], Awaitable[bool]]  # sleeps; False when the notifier is stopping
OUTBOX = "outbox"


@dataclass(frozen=True)
class Receiver:
    name: str
    channel: Channel
    urls: UrlSource
    rate_per_s: float
    outbox_when_unset: bool = False  # the default receiver keeps messages locally


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    channel: str  # slack, webhook or outbox
    attempts: int
    error: str | None = None
    reason: str | None = None


class Courier:
    def __init__(
        self,
        receiver: Receiver,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        limiter: RateLimiter,
    ) -> None:
        self.receiver = receiver
        self.client = client
        self.policy = policy
        self.limiter = limiter

    async def deliver(self, message: OutgoingMessage, pause: Pause) -> Outcome | None:
        """Tries until delivered, refused, or out of tries. A 429 ("wait") is not a failure
        of the message: its tries do not count against ``policy.attempts`` (a burst of
        throttling, during an incident, would dead-letter the approval requests it holds
        back), but a message throttled for longer than ``policy.throttled_max_s`` in all
        gives up."""
        channel = self.receiver.channel.value
        attempts = 0  # tries that count against the policy's
        tries = 0  # every try, throttled ones too: the backoff grows with these
        throttled_s = 0.0
        allowed = self.policy.attempts
        refreshed = False
        last = PostResult(False, reason="url_unavailable", detail="not tried")
        detail = last.detail
        while attempts < allowed:
            try:
                url = await self.receiver.urls.resolve()
            except WebhookUrlUnavailable as exc:
                url, last = None, PostResult(False, None, exc.reason, str(exc), True)
            else:
                if url is None and self.receiver.outbox_when_unset:
                    return Outcome(True, OUTBOX, max(tries, 1))
                if url is None:
                    last = PostResult(False, None, "url_unavailable", "no URL configured", True)
            if url is not None:
                wait = await self.limiter.reserve(self.receiver.name, self.receiver.rate_per_s)
                if wait > 0 and not await pause(wait):
                    return None
                last = await post_json(self.client, url, message.payload)
                if last.ok:
                    return Outcome(True, channel, tries + 1)
            tries += 1
            throttled = last.reason == THROTTLED
            if not throttled:
                attempts += 1
            metrics.FAILED.labels(reason=last.reason or "unknown").inc()
            detail = scrub(last.detail, [url.get_secret_value()] if url is not None else [])
            log.warning(
                "delivery_try_failed",
                receiver=self.receiver.name,
                attempt=tries,
                reason=last.reason,
                status=last.status,
                detail=detail,
            )
            if last.url_gone and not refreshed:
                refreshed = True
                fresh = await self._refreshed_url()
                if fresh is not None and url is not None and fresh != url:
                    log.info("webhook_url_reread", receiver=self.receiver.name)
                    allowed += 1  # the revoked URL's answer does not count against the message
                    continue  # rotated: try the new URL at once
            if not last.retryable or attempts >= allowed:
                break
            wait_s = self.policy.wait_s(tries, last.retry_after_s)
            if throttled:
                if throttled_s + wait_s > self.policy.throttled_max_s:
                    detail = f"{detail} (throttled for {throttled_s:.0f} s: gave up)"
                    break
                throttled_s += wait_s
            if not await pause(wait_s):
                return None
        return Outcome(False, channel, tries, detail, last.reason)

    async def _refreshed_url(self) -> SecretStr | None:
        try:
            return await self.receiver.urls.refresh()
        except WebhookUrlUnavailable:
            return None

"""Sending a message to a webhook, with retries that honour ``Retry-After``.

Errors never carry the webhook URL: it is a secret.
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = structlog.get_logger("notifier.delivery")


class DeliveryError(Exception):
    """A message was not accepted (the text names the status or error, never the URL)."""


class RetryableDeliveryError(DeliveryError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, attempts: int, max_wait_s: float) -> None:
        self.client = client
        self.attempts = attempts
        self.max_wait_s = max_wait_s
        self._backoff = wait_exponential_jitter(multiplier=0.5, max=max_wait_s, jitter=0.5)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableDeliveryError) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_wait_s * 4)
        return float(self._backoff(state))

    async def send(self, url: str, payload: dict[str, Any]) -> int:
        """POST ``payload``; returns the number of tries it took."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableDeliveryError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._post_once(url, payload)
        return int(retrying.statistics.get("attempt_number", 1))

    async def _post_once(self, url: str, payload: dict[str, Any]) -> None:
        try:
            response = await self.client.post(url, json=payload)
        except httpx.TransportError as exc:
            raise RetryableDeliveryError(f"transport error: {type(exc).__name__}") from None
        if response.status_code < 300:
            return
        if response.status_code == 429 or response.status_code >= 500:
            log.warning("delivery_retry", status=response.status_code)
            raise RetryableDeliveryError(
                f"webhook answered {response.status_code}", _retry_after(response)
            )
        raise DeliveryError(f"webhook refused the message with {response.status_code}")

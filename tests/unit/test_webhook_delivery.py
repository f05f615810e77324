"""Delivery retries: server errors and 429 are retried (honouring Retry-After), client errors
are not, and no error names the webhook URL."""

from __future__ import annotations

import time

import httpx
import pytest

from services.notifier.delivery import DeliveryError, WebhookSender

URL = "https://hooks.example.test/services/T1/B1/secret-token"


def _sender(statuses: list[tuple[int, dict[str, str]]], calls: list[float]) -> WebhookSender:
    script = iter(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        status, headers = next(script)
        return httpx.Response(status, headers=headers, text="x")

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return WebhookSender(client, attempts=4, max_wait_s=0.05)


async def test_server_errors_are_retried_until_accepted() -> None:
    calls: list[float] = []
    sender = _sender([(500, {}), (502, {}), (200, {})], calls)
    assert await sender.send(URL, {"text": "hi"}) == 3
    assert len(calls) == 3


async def test_retry_after_is_honoured() -> None:
    calls: list[float] = []
    sender = _sender([(429, {"Retry-After": "0.2"}), (200, {})], calls)
    await sender.send(URL, {"text": "hi"})
    assert calls[1] - calls[0] >= 0.2


async def test_client_errors_fail_at_once_without_the_url() -> None:
    calls: list[float] = []
    sender = _sender([(404, {})], calls)
    with pytest.raises(DeliveryError) as info:
        await sender.send(URL, {"text": "hi"})
    assert len(calls) == 1
    assert "404" in str(info.value)
    assert "secret-token" not in str(info.value)


async def test_gives_up_after_the_configured_attempts() -> None:
    calls: list[float] = []
    sender = _sender([(503, {})] * 4, calls)
    with pytest.raises(DeliveryError, match="503"):
        await sender.send(URL, {"text": "hi"})
    assert len(calls) == 4

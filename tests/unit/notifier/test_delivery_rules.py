"""One POST and what its answer means; waits between tries. Errors never name the URL."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from services.notifier.delivery.http_post import post_json, retry_after
from services.notifier.delivery.pacing import RetryPolicy
from shared.secret_shapes import REDACTED

URL = SecretStr("https://hooks.example.test/services/T1/B1/secret-token")


def client(
    status: int, headers: dict[str, str] | None = None, body: str = "x"
) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers or {}, text=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_2xx_is_accepted() -> None:
    result = await post_json(client(200), URL, {"text": "hi"})
    assert result.ok and result.status == 200


@pytest.mark.parametrize(
    ("status", "reason", "retryable", "url_gone"),
    [
        (500, "server_error", True, False),
        (503, "server_error", True, False),
        (429, "rate_limited", True, False),
        (400, "client_error", False, False),
        (403, "url_rejected", False, True),
        (404, "url_rejected", False, True),
        (410, "url_rejected", False, True),
    ],
)
async def test_answers_are_classified(
    status: int, reason: str, retryable: bool, url_gone: bool
) -> None:
    result = await post_json(client(status), URL, {"text": "hi"})
    assert (result.ok, result.reason, result.retryable, result.url_gone) == (
        False,
        reason,
        retryable,
        url_gone,
    )
    assert str(status) in result.detail


async def test_no_error_names_the_url_even_when_the_receiver_echoes_it() -> None:
    result = await post_json(client(400, body=f"bad request to {URL.get_secret_value()}"), URL, {})
    assert "secret-token" not in result.detail
    assert REDACTED in result.detail


async def test_transport_errors_are_retryable_and_do_not_name_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        result = await post_json(http, URL, {})
    assert result.retryable and result.reason == "transport_error"
    assert "secret-token" not in result.detail


async def test_a_malformed_url_is_a_rejected_url_not_a_crash() -> None:
    async with httpx.AsyncClient() as http:  # fails before any connection is tried
        result = await post_json(http, SecretStr("hooks.example/no-scheme"), {})
    assert result.reason == "url_rejected" and result.url_gone and not result.retryable


async def test_429_carries_retry_after() -> None:
    result = await post_json(client(429, {"Retry-After": "7"}), URL, {})
    assert result.retry_after_s == 7.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    assert retry_after("3") == 3.0
    assert retry_after("Thu, 26 Nov 2026 18:00:30 GMT", now) == 30.0
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=0.5, max_wait_s=4.0, rng=random.Random(1))
    for failed, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        waits = [policy.wait_s(failed, None) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert len(set(waits)) > 1  # jittered


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    policy = RetryPolicy(base_s=0.5, max_wait_s=4.0, retry_after_max_s=60)
    assert policy.wait_s(1, 30.0) == 30.0  # longer than the backoff cap: still honoured
    assert policy.wait_s(1, 3600.0) == 60.0

"""Which AWS errors are worth retrying, their codes, and the one retry policy every service
applies to AWS calls (tenacity with jittered exponential backoff, logged; botocore's own
retries are switched off by the callers so that this is the only one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from structlog.typing import FilteringBoundLogger
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

# Throttling and server-side errors: the same call may well succeed a moment later.
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "EC2ThrottledException",
        "RequestThrottled",
        "LimitExceeded",
        "SlowDown",
        "PriorRequestNotComplete",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "Unavailable",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerErrorException",
        "InternalServiceError",
    }
)
_TRANSIENT_CLIENT_SIDE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    aiohttp.ClientConnectionError,
    asyncio.TimeoutError,
)


def error_code(exc: BaseException) -> str:
    """AWS's error code, ``HTTP<status>`` without one, or the client-side error's name."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        if code:
            return code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"HTTP{status}" if status else "ClientError"
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return error_code(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    return isinstance(exc, _TRANSIENT_CLIENT_SIDE)


async def call_with_retries(
    call: Callable[[], Awaitable[dict[str, Any]]],
    *,
    operation: str,
    attempts: int,
    max_wait_s: float,
    log: FilteringBoundLogger,
) -> dict[str, Any]:
    """``call()`` tried up to ``attempts`` times while it fails transiently; the last
    failure is raised as it is (callers turn it into their own error)."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.2, max=max_wait_s, jitter=max_wait_s / 4),
        retry=retry_if_exception(is_transient),
        before_sleep=_log_retry(operation, log),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover


def _log_retry(operation: str, log: FilteringBoundLogger) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "aws_call_retried",
            operation=operation,
            attempt=state.attempt_number,
            error_code=error_code(exc) if exc else None,
            wait_s=round(state.next_action.sleep, 2) if state.next_action else None,
        )

    return before_sleep

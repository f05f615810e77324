"""Which AWS errors are worth retrying, and the error raised when a call finally fails.

``AwsCallError`` carries the AWS error code (``ThrottlingException``, ``InvalidInstanceId``...),
or the name of the client-side error when there was no answer, so records can say what failed.
"""

from __future__ import annotations

import asyncio

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
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
    }
)
_TRANSIENT_CLIENT_SIDE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    asyncio.TimeoutError,
)
# The request never left this side: nothing can have reached AWS.
_NOT_SENT = (EndpointConnectionError, ConnectTimeoutError)


class AwsCallError(Exception):
    """An AWS call failed for good (a permanent error, or a transient one past every retry)."""

    def __init__(
        self,
        operation: str,
        code: str,
        message: str,
        *,
        transient: bool,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message
        self.transient = transient
        self.ambiguous = ambiguous  # the request may have reached AWS and been carried out


def error_code(exc: BaseException) -> str:
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
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(exc) in TRANSIENT_CODES or int(status) >= 500
    return isinstance(exc, _TRANSIENT_CLIENT_SIDE)


def may_have_reached_aws(exc: BaseException) -> bool:
    """False only when AWS certainly did not act: it answered with a client error (4xx, which
    includes throttling), or the connection was never made. A read timeout, a connection lost
    mid-request, a 5xx or an unknown failure leave it open whether AWS carried the call out."""
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return int(status) >= 500 or error_code(exc) in {"InternalError", "InternalFailure"}
    return not isinstance(exc, _NOT_SENT)


def as_call_error(operation: str, exc: BaseException) -> AwsCallError:
    message = str(exc)
    if isinstance(exc, ClientError):
        message = str(exc.response.get("Error", {}).get("Message") or message)
    elif not isinstance(exc, BotoCoreError | asyncio.TimeoutError):
        message = f"{type(exc).__name__}: {message}"
    return AwsCallError(
        operation,
        error_code(exc),
        message[:500],
        transient=is_transient(exc),
        ambiguous=may_have_reached_aws(exc),
    )

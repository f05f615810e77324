"""Which AWS errors are worth retrying, and the error raised when a call finally fails.

``AwsCallError`` carries the AWS error code (``ThrottlingException``, ``InvalidInstanceId``...),
or the name of the client-side error when there was no answer, so records can say what failed.
"""

from __future__ import annotations

import asyncio

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from shared.aws_retry import TRANSIENT_CODES, error_code, is_transient

__all__ = [
    "TRANSIENT_CODES",
    "AwsCallError",
    "as_call_error",
    "error_code",
    "is_transient",
    "may_have_reached_aws",
]

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

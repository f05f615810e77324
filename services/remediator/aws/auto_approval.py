"""Auto-approval: the SSM parameter ``/smartcloudops/<env>/approvals/auto`` (String or
SecureString) set to ``true`` lets actions that need approval run without waiting.

Read with a short cache. Anything but a clear "true" (missing parameter, AWS not configured,
AWS unreachable) means "ask a human": the safe answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog

from services.remediator.aws.errors import AwsCallError
from services.remediator.aws.session import AwsApi

log = structlog.get_logger("remediator.approvals")

TRUE = frozenset({"true", "on", "yes", "1", "enabled"})


def parameter_name(env: str) -> str:
    return f"/smartcloudops/{env}/approvals/auto"


class AutoApprovalSwitch:
    def __init__(
        self,
        aws: AwsApi | None,
        env: str,
        *,
        cache_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.aws = aws
        self.name = parameter_name(env)
        self.cache_s = cache_s
        self.clock = clock
        self._value = False
        self._read_at: float | None = None

    def enabled(self) -> bool:
        if self.aws is None:
            return False
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.cache_s:
            self._value = asyncio.run(self._read(self.aws))
            self._read_at = now
        return self._value

    async def _read(self, aws: AwsApi) -> bool:
        try:
            async with aws.client("ssm") as ssm:
                reply = await aws.call(ssm, "get_parameter", Name=self.name, WithDecryption=True)
        except AwsCallError as exc:
            if exc.code != "ParameterNotFound":
                log.warning("auto_approval_unreadable", parameter=self.name, error_code=exc.code)
            return False
        value = str(reply.get("Parameter", {}).get("Value", "")).strip().lower()
        return value in TRUE

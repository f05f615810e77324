"""Posting to a Slack ``response_url``, and the work that finishes after Slack got its answer.

A ``response_url`` lets whoever holds it write to the channel for a while, so it is posted to
only when it starts with the configured prefix (Slack's ``https://hooks.slack.com/``) and it
never appears in logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import httpx
import structlog

log = structlog.get_logger("gateway.slack")


class SlackResponder:
    def __init__(self, client: httpx.AsyncClient, allowed_prefix: str, timeout_s: float) -> None:
        self.client = client
        self.allowed_prefix = allowed_prefix
        self.timeout_s = timeout_s

    def allowed(self, url: str | None) -> bool:
        return bool(url) and str(url).startswith(self.allowed_prefix)

    async def post(self, url: str | None, message: dict[str, Any]) -> bool:
        if url is None or not self.allowed(url):
            log.warning("slack_response_url_refused")
            return False
        try:
            reply = await self.client.post(url, json=message, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            log.warning("slack_response_failed", error=type(exc).__name__)
            return False
        if reply.status_code != 200:
            log.warning("slack_response_refused", status=reply.status_code)
            return False
        return True


class Followups:
    """Tasks that outlive their request (late answers, button clicks); cancelled at shutdown."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(self._logged(work, name), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    @staticmethod
    async def _logged(work: Coroutine[Any, Any, Any], name: str) -> Any:
        try:
            return await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("slack_followup_failed", work=name)
            raise

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

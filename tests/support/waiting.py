"""Waiting on the thing itself (never a fixed sleep): what a real worker process does, failing
fast when the process dies, or a condition in the test's own event loop."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.support.processes import StackProcess


def wait_for(proc: StackProcess, condition: Any, timeout: float, what: str) -> None:
    """Polls ``condition`` every 0.2 s until it holds; a timeout shows the process's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc.assert_alive()
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{proc.log_tail(40)}")


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Polls ``check`` (plain or async) every 0.05 s until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        held = check()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.05)


def wait_for_a_fresh_minute(room_s: float = 10.0) -> None:
    """Per-minute budgets count by clock minute: a test that fills one and then checks it is
    refused must not cross into the next minute, which starts with a fresh budget. Waits for
    the next minute when fewer than ``room_s`` seconds of this one are left."""
    if time.time() % 60 > 60 - room_s:
        time.sleep(61 - time.time() % 60)

"""Waiting for what a real worker process does, failing fast when the process dies."""

from __future__ import annotations

import time
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

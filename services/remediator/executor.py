"""Executors run an action on a target. Only the dry-run executor exists so far."""

from __future__ import annotations

import time
from dataclasses import dataclass

from shared.events import RemediationStatus


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    status: RemediationStatus
    output: str
    exit_code: int | None
    duration_s: float


class DryRunExecutor:
    name = "dry-run"

    def run(self, action: str, target: str) -> ExecutionResult:
        started = time.perf_counter()
        output = f"dry run: would run {action} on {target}"
        return ExecutionResult(
            RemediationStatus.DRY_RUN, output, None, time.perf_counter() - started
        )

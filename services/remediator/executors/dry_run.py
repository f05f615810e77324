"""The dry-run executor: describes what would run and touches nothing."""

from __future__ import annotations

from datetime import datetime

from services.remediator.executors.base import Finished, Job, Started
from shared.events import RemediationStatus


class DryRunExecutor:
    name = "dry-run"

    def start(self, job: Job) -> Started | Finished:
        return Finished(RemediationStatus.DRY_RUN, f"dry run: would {job.describe()}")

    def poll(self, job: Job, started: Started) -> Finished | None:
        return Finished(RemediationStatus.DRY_RUN, f"dry run: would {job.describe()}")

    def find(self, job: Job, since: datetime) -> Started | None:
        return None

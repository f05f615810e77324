"""The local executor: runs catalogue scripts on this host, for demos. Other actions (restarts,
scaling) are only described, never run here. Off unless ``SCOPS_EXECUTOR=local``."""

from __future__ import annotations

import subprocess
from datetime import datetime

from services.remediator.core.actions.base import NOT_ON_TARGET_EXIT
from services.remediator.executors.base import (
    NON_ZERO_EXIT,
    NOT_ON_TARGET,
    TIMEOUT,
    Finished,
    Job,
    Started,
)
from shared.events import RemediationStatus


class LocalExecutor:
    name = "local"

    def start(self, job: Job) -> Started | Finished:
        shell = job.definition.shell
        plan = shell(job.params) if shell is not None else None
        if plan is None or not plan.catalogue_script:
            return Finished(
                RemediationStatus.DRY_RUN,
                f"the local executor runs catalogue scripts only: would {job.describe()}",
            )
        script = "\n".join(plan.commands)
        try:
            done = subprocess.run(
                ["/bin/sh", "-c", script],
                capture_output=True,
                text=True,
                timeout=plan.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout if isinstance(exc.stdout, str) else ""
            return Finished(
                RemediationStatus.FAILED,
                f"timed out after {plan.timeout_s}s",
                output=output,
                error_code=TIMEOUT,
            )
        output = done.stdout + (f"\n-- stderr --\n{done.stderr}" if done.stderr else "")
        if done.returncode == 0:
            return Finished(RemediationStatus.SUCCEEDED, f"ran {job.describe()} locally", output, 0)
        missing = done.returncode == NOT_ON_TARGET_EXIT
        return Finished(
            RemediationStatus.FAILED,
            f"exit code {done.returncode}"
            + (": this host does not have what it acts on" if missing else ""),
            output,
            done.returncode,
            error_code=NOT_ON_TARGET if missing else NON_ZERO_EXIT,
        )

    def poll(self, job: Job, started: Started) -> Finished | None:
        return None

    def find(self, job: Job, since: datetime) -> Started | None:
        return None

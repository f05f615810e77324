"""The AWS executor: SSM Run Command for shell actions (sent, then polled), direct API calls
for the others (Auto Scaling, EC2), in the job's AWS account and region. Transient AWS errors
are retried by :class:`AwsApi`; what still fails (an account that may not be acted in
included) becomes a failed outcome carrying the AWS error code."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, TypeVar

from services.remediator.aws.errors import AwsCallError
from services.remediator.aws.session import AwsApi
from services.remediator.aws.ssm_commands import (
    SentCommand,
    find_command,
    invocations,
    send_shell_command,
)
from services.remediator.core.actions.base import NOT_ON_TARGET_EXIT
from services.remediator.executors.base import NO_TARGETS, NOT_ON_TARGET, Finished, Job, Started
from shared.events import RemediationStatus

T = TypeVar("T")


class AwsExecutor:
    name = "ssm"

    def __init__(self, aws: AwsApi) -> None:
        self.aws = aws

    def _api(self, job: Job) -> AwsApi:
        """The API of the job's account and region. Raises AwsCallError."""
        return self.aws.for_account(job.place.account, job.place.region)

    def start(self, job: Job) -> Started | Finished:
        definition = job.definition
        try:
            aws = self._api(job)
            if definition.shell is not None:
                plan = definition.shell(job.params)
                sent = _run(send_shell_command(aws, job.target, plan, job.run_id))
                summary = f"sent SSM command {sent.command_id}: {job.describe()}"
                if sent.adopted:
                    summary = (
                        f"adopted SSM command {sent.command_id} (its send got no clear answer; "
                        f"found by its comment, not sent again): {job.describe()}"
                    )
                return Started(sent.command_id, sent.instance_ids, summary)
            assert definition.call_api is not None
            outcome = _run(definition.call_api(aws, job.params, job.target))
        except AwsCallError as exc:
            return _failed(exc)
        status = RemediationStatus.SUCCEEDED if outcome.succeeded else RemediationStatus.FAILED
        return Finished(status, outcome.summary, outcome.output, error_code=outcome.error_code)

    def poll(self, job: Job, started: Started) -> Finished | None:
        sent = SentCommand(started.command_id, started.instance_ids)
        try:
            found = _run(invocations(self._api(job), sent))
        except AwsCallError as exc:
            if exc.transient:
                return None  # poll again later
            return _failed(exc)
        if found is None:
            return None
        output = "\n".join(i.excerpt() for i in found)
        if not found:
            return Finished(
                RemediationStatus.FAILED,
                f"command {sent.command_id} reached no instance",
                error_code=NO_TARGETS,
            )
        failed = [i for i in found if not i.succeeded]
        if not failed:
            return Finished(
                RemediationStatus.SUCCEEDED,
                f"{job.describe()}: succeeded on {len(found)} instance(s)",
                output,
                exit_code=0,
            )
        first = failed[0]
        if all(i.exit_code == NOT_ON_TARGET_EXIT for i in failed):
            return Finished(
                RemediationStatus.FAILED,
                f"{len(failed)} of {len(found)} instance(s) do not have what {job.describe()} "
                f"acts on ({first.instance_id}: exit code {NOT_ON_TARGET_EXIT}); nothing was "
                "tried there and the circuit breaker does not count it",
                output,
                exit_code=NOT_ON_TARGET_EXIT,
                error_code=NOT_ON_TARGET,
            )
        return Finished(
            RemediationStatus.FAILED,
            f"{len(failed)} of {len(found)} instance(s) failed ({first.instance_id}: "
            f"{first.status}, exit code {first.exit_code})",
            output,
            exit_code=first.exit_code,
            error_code=first.status.replace(" ", ""),
        )

    def find(self, job: Job, since: datetime) -> Started | None:
        if job.definition.shell is None:
            return None
        sent = _run(find_command(self._api(job), job.run_id, job.target, since))
        if sent is None:
            return None
        return Started(sent.command_id, sent.instance_ids, f"found SSM command {sent.command_id}")


def _failed(exc: AwsCallError) -> Finished:
    return Finished(
        RemediationStatus.FAILED,
        f"AWS {exc.operation} failed: {exc.code}: {exc.message}",
        error_code=exc.code,
    )


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs AWS coroutines from the synchronous worker (one short event loop per step)."""
    return asyncio.run(coroutine)

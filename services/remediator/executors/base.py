"""The executor interface. ``start`` either finishes the action (API calls, dry runs, local
scripts) or sends it and returns a handle to poll (SSM commands), so no worker waits minutes
for a command to end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.remediator.core.accounts import HOME, AwsPlace
from services.remediator.core.actions.base import ActionDefinition
from services.remediator.core.targets import Target
from shared.events import RemediationStatus

# Error codes of failures the executors and the runner recognise themselves (the others are
# AWS's error codes, or an executor's exception name).
TIMEOUT = "Timeout"
NO_TARGETS = "NoTargets"
NON_ZERO_EXIT = "NonZeroExit"
# Every failed instance lacked what the action acts on (its script exited NOT_ON_TARGET_EXIT):
# nothing was tried there, so the failure does not count toward the circuit breaker.
NOT_ON_TARGET = "NotOnTarget"
OWN_ERROR_CODES = (TIMEOUT, NO_TARGETS, NON_ZERO_EXIT, NOT_ON_TARGET)


@dataclass(frozen=True)
class Job:
    definition: ActionDefinition
    params: Any
    target: Target
    run_id: str
    place: AwsPlace = HOME  # the AWS account and region it acts in

    def describe(self) -> str:
        return self.definition.describe(self.params, self.target)


@dataclass(frozen=True)
class Finished:
    status: RemediationStatus  # SUCCEEDED, FAILED or DRY_RUN
    summary: str
    output: str = ""
    exit_code: int | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class Started:
    command_id: str
    instance_ids: tuple[str, ...]
    summary: str


class Executor(Protocol):
    name: str

    def start(self, job: Job) -> Started | Finished: ...

    def poll(self, job: Job, started: Started) -> Finished | None:
        """The outcome once the action ended; None while it runs."""
        ...

    def find(self, job: Job, since: datetime) -> Started | None:
        """What a dead attempt of this job sent, if anything reached the other side."""
        ...

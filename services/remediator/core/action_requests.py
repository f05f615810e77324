"""What the workflow hands to the action runner (and stores with approvals and runs):
the incident an action answers, and the action request itself. Both are plain data."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.remediator.core.accounts import AwsPlace
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target
from services.remediator.core.verify import Verify
from shared.events import AnomalyEvent, ApprovalVote, Severity, UtcDatetime


class Incident(BaseModel):
    """The anomaly (or manual request) an action answers: what records repeat about it."""

    model_config = ConfigDict(frozen=True)

    anomaly_id: uuid.UUID
    correlation_id: str
    resource_id: str
    metric: str
    severity: Severity
    value: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None
    explanation: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    observed_at: UtcDatetime | None = Field(
        None, description="The anomaly's sample timestamp; None for a manual request."
    )

    @classmethod
    def from_anomaly(cls, anomaly: AnomalyEvent) -> Incident:
        return cls(
            anomaly_id=anomaly.event_id,
            correlation_id=anomaly.correlation_id,
            resource_id=anomaly.resource_id,
            metric=anomaly.metric,
            severity=anomaly.severity,
            value=anomaly.value,
            expected_low=anomaly.expected_low,
            expected_high=anomaly.expected_high,
            explanation=anomaly.explanation,
            labels=dict(anomaly.labels),
            observed_at=anomaly.observed_at,
        )


class ActionRequest(BaseModel):
    """One action on one target, decided and ready for the safety checks."""

    model_config = ConfigDict(frozen=True)

    subject_id: uuid.UUID = Field(description="Claim subject: anomaly, approval or request id.")
    incident: Incident
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    target: Target
    target_names: tuple[str, ...] = Field(
        (), description="The resolved target's names (ids, tags, group) the checks match."
    )
    target_instances: tuple[str, ...] = Field(
        (),
        description="An Auto Scaling group target's instances, as AWS listed them: the action "
        "holds their locks too.",
    )
    reason: str
    rule: str | None = None
    risk: Risk = Risk.MEDIUM
    cooldown_s: float | None = None
    blast_max: int = 0
    blast_window_s: float = 3600.0
    blast_percent: float = Field(0.0, description="Most % of an Auto Scaling group (0: none).")
    blast_group: str | None = Field(None, description="The target's group, if the rule names it.")
    denied_targets: tuple[str, ...] = ()
    automatic: bool = True
    approval_id: str | None = None
    decided_by: str | None = None
    votes: tuple[ApprovalVote, ...] = Field(
        (), description="Who approved it, when and through which channel (approved requests)."
    )
    requested_by: str | None = Field(
        None,
        description="The person who asked (manual requests), or whose API key sent the alert "
        "or samples a rule acted on: never one of its approvers.",
    )
    dry_run: bool = False
    verify: Verify | None = Field(None, description="Watch the metric after a success.")
    aws_account: str | None = Field(
        None, description="The AWS account acted in (None: the remediator's own)."
    )
    aws_region: str | None = Field(None, description="The AWS region (None: SCOPS_AWS_REGION).")

    @property
    def place(self) -> AwsPlace:
        """Where everything done for this request talks to AWS."""
        return AwsPlace(self.aws_account, self.aws_region)

    @property
    def names(self) -> tuple[str, ...]:
        """What deny lists, maintenance windows and critical tags are matched against: the
        resolved target's names, and the resource the incident is about (which can only add
        refusals, never remove one)."""
        found = self.target_names or self.target.names()
        return tuple(dict.fromkeys((*found, self.incident.resource_id)))

    @property
    def run_id(self) -> str:
        return derive_run_id(self.subject_id, self.action)


@lru_cache(maxsize=256)
def derive_run_id(subject_id: uuid.UUID, action: str) -> str:
    """The run id of ``action`` for ``subject_id`` (a decision asks for it several times)."""
    return uuid.uuid5(subject_id, f"run:{action}").hex

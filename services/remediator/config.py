"""Remediator settings (``SCOPS_`` variables, see the README's configuration table)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from services.remediator.core.accounts import ACCOUNT_PATTERN, AccountRoles, check_account_roles
from shared.aws_settings import AwsSettings

ExecutorChoice = Literal["auto", "ssm", "dry-run", "local"]


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


class RemediatorSettings(AwsSettings):
    remediator_host: str = Field("127.0.0.1", description="Remediator listen address.")
    remediator_port: int = Field(8002, ge=1, le=65535, description="Remediator HTTP port.")
    worker_metrics_host: str = Field(
        "127.0.0.1",
        description="Address each Celery worker serves its metrics on (0.0.0.0 in containers).",
    )
    worker_metrics_port: int = Field(
        9808,
        ge=0,
        le=65535,
        description="Port where each Celery worker serves its celery_* metrics; 0: none.",
    )
    dry_run: bool = Field(True, description="Record what would run instead of running it.")
    task_time_limit_s: int = Field(600, ge=10, description="Hard limit of one remediation task.")
    visibility_timeout_s: int = Field(
        3600,
        ge=60,
        description=(
            "Broker redelivers an unacknowledged task after this; keep above the longest task."
        ),
    )
    claim_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="How long an anomaly x action idempotency claim lasts."
    )
    claim_lease_s: float = Field(
        30.0,
        gt=0,
        description="A working attempt's lease on its claim; a duplicate waits this long.",
    )
    rules_path: Path = Field(
        Path("deploy/config/remediation-rules.yaml"),
        description="Remediation rules file (YAML; relative to the working directory).",
    )
    script_catalogue_path: Path = Field(
        Path("deploy/config/script-catalogue.yaml"),
        description="Reviewed scripts that optimize_performance may run.",
    )
    executor: ExecutorChoice = Field(
        "auto",
        description="auto (ssm when SCOPS_AWS_REGION is set, else dry-run), ssm, dry-run, local.",
    )
    rate_limit_per_hour: int = Field(
        10, ge=0, description="Most actions executed in any rolling hour (all targets)."
    )
    cooldown_s: int = Field(
        300, ge=0, description="Least time between two actions on one target (rules may override)."
    )
    lock_ttl_s: int = Field(
        900, ge=10, description="Expiry of the one-action-at-a-time lock on a target."
    )
    allowed_actions: str = Field(
        "*", description="Comma-separated actions that may run ('*': every registered action)."
    )
    denied_targets: str = Field(
        "", description="Comma-separated glob patterns of targets never acted on."
    )
    breaker_failures: int = Field(
        3, ge=1, description="Failed actions within the breaker window that stop automatic actions."
    )
    breaker_window_s: int = Field(900, ge=10, description="Circuit breaker window.")
    approval_ttl_s: int = Field(1800, ge=10, description="How long an approval request waits.")
    approved_start_within_s: float = Field(
        3600.0,
        ge=1,
        le=7 * 86400,
        description="How long after its approval an approved action may still start. One not "
        "started by then (workers down, the task lost) is recorded expired and never run: the "
        "people approved it for the situation they saw.",
    )
    auto_approve_cache_s: float = Field(
        30.0, ge=0, description="How long the auto-approval SSM parameter is cached."
    )
    aws_attempts: int = Field(
        4, ge=1, le=10, description="Tries of an AWS call on transient errors."
    )
    aws_retry_max_wait_s: float = Field(
        8.0, ge=0, description="Longest wait between two tries of an AWS call."
    )
    ssm_poll_first_s: float = Field(
        1.0, ge=0.05, description="First wait before polling an SSM command."
    )
    ssm_poll_max_s: float = Field(15.0, ge=0.05, description="Longest wait between two polls.")
    audit_maxlen: int = Field(
        100_000, ge=100, description="Approximate number of decisions kept in the audit log."
    )
    sweep_interval_s: float = Field(
        5.0, gt=0, description="How often expired approvals and stalled actions are looked for."
    )
    abandoned_margin_s: float = Field(
        15.0,
        ge=0,
        description="A run reserved longer than the claim lease plus this, whose lease lapsed, "
        "is settled by the sweep (its worker died).",
    )
    redispatch_stalled_s: float = Field(
        60.0,
        gt=0,
        description="An anomaly sent to the workers (or a debounced rule's re-check due) whose "
        "decision is not recorded after this is sent again by the sweep (a worker killed whole "
        "held it; its claim makes a duplicate harmless).",
    )
    redispatch_give_up_s: float = Field(
        3600.0,
        gt=0,
        description="An anomaly (or re-check) still undecided this long after it was first sent "
        "(or due) is no longer sent again (logged as stalled_anomaly_dropped).",
    )
    verify_check_s: float = Field(
        60.0,
        ge=0.1,
        description="How often the metric is looked at again while an action is verified.",
    )
    escalation_ttl_s: int = Field(
        86400,
        ge=60,
        description="After an action did not improve its metric, how long the next action on "
        "that target needs a person's approval (an approval ends it sooner).",
    )
    group_size_cache_s: float = Field(
        60.0, ge=0, description="How long an Auto Scaling group's size is cached (blast radius)."
    )

    aws_account_roles: dict[str, str] = Field(
        default_factory=dict,
        description="JSON map of AWS account id to the role the remediator assumes there, "
        'e.g. {"210987654321": "arn:aws:iam::210987654321:role/smartcloudops-prod-remediator-'
        'actor"}; an anomaly labelled aws_account is acted on in that account, and refused when '
        "its account is not here (nor SCOPS_AWS_OWN_ACCOUNT).",
    )
    aws_own_account: str | None = Field(
        None,
        pattern=ACCOUNT_PATTERN,
        description="The remediator's own AWS account id: anomalies labelled with it are acted "
        "on with its own credentials (unset: only unlabelled ones are).",
    )

    remediation_opt_in_tag: str | None = Field(
        "SmartCloudOpsRemediation",
        description="Act only on instances and Auto Scaling groups with this tag set to "
        "SCOPS_ENV (what the IAM policies allow); others are refused (no_target) before any "
        "safety check. Empty: every instance and group AWS knows.",
    )

    @field_validator("remediation_opt_in_tag")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("aws_account_roles")
    @classmethod
    def _roles_are_in_their_accounts(cls, value: dict[str, str]) -> dict[str, str]:
        return check_account_roles(value)

    @model_validator(mode="after")
    def _aws_keys_come_in_pairs(self) -> RemediatorSettings:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("set both SCOPS_AWS_ACCESS_KEY_ID and SCOPS_AWS_SECRET_ACCESS_KEY")
        return self

    @property
    def http_host(self) -> str:
        return self.remediator_host

    @property
    def http_port(self) -> int:
        return self.remediator_port

    @property
    def aws_configured(self) -> bool:
        return self.aws_region is not None

    @property
    def account_roles(self) -> AccountRoles:
        """The AWS accounts actions may be taken in, and the role to assume in each."""
        return AccountRoles(self.aws_account_roles, self.aws_own_account)

    @property
    def executor_name(self) -> Literal["ssm", "dry-run", "local"]:
        if self.executor == "auto":
            return "ssm" if self.aws_configured else "dry-run"
        return self.executor

    @property
    def allowed_action_names(self) -> frozenset[str] | None:
        """None: every registered action."""
        names = _csv(self.allowed_actions)
        return None if "*" in names else names

    @property
    def denied_target_patterns(self) -> tuple[str, ...]:
        return tuple(sorted(_csv(self.denied_targets)))

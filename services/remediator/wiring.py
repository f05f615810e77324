"""The composition root: builds every part of the remediator once, from the settings, for the
worker processes and for the API."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from services.remediator.aws.auto_approval import AutoApprovalSwitch
from services.remediator.aws.group_share import GroupSizes
from services.remediator.aws.session import AwsApi, AwsConfig
from services.remediator.aws.target_resolution import OptIn, TargetResolver
from services.remediator.config import RemediatorSettings
from services.remediator.core.actions.catalogue import load_catalogue
from services.remediator.core.actions.registry import ActionRegistry, build_registry
from services.remediator.core.safety_policy import SafetyLimits
from services.remediator.executors.aws import AwsExecutor
from services.remediator.executors.base import Executor
from services.remediator.executors.dry_run import DryRunExecutor
from services.remediator.executors.local import LocalExecutor
from services.remediator.handling.approval_decisions import ApprovalDecisions
from services.remediator.handling.runner import ActionRunner
from services.remediator.handling.safety_checks import SafetyChecks
from services.remediator.handling.scheduling import Scheduler
from services.remediator.handling.verification import Verifier
from services.remediator.handling.verification_outcomes import VerificationOutcomes
from services.remediator.handling.workflow import AnomalyWorkflow, WorkflowParts
from services.remediator.stores.approvals import ApprovalStore
from services.remediator.stores.audit import AdminLog, AuditLog, RecordPublisher
from services.remediator.stores.auto_shadow import AutoShadow
from services.remediator.stores.claims import Claims
from services.remediator.stores.debounce import Debouncer
from services.remediator.stores.decision_steps import DecisionSteps
from services.remediator.stores.dispatched import DispatchedAnomalies
from services.remediator.stores.escalations import Escalations
from services.remediator.stores.maintenance import MaintenanceWindows
from services.remediator.stores.recent import RecentAnomalies
from services.remediator.stores.rules import RuleStore
from services.remediator.stores.safety import SafetyManager
from services.remediator.stores.samples import SeriesReader


@dataclass(frozen=True)
class Remediator:
    settings: RemediatorSettings
    redis: redis.Redis
    registry: ActionRegistry
    rules: RuleStore
    safety: SafetyManager
    maintenance: MaintenanceWindows
    approvals: ApprovalStore
    decisions: ApprovalDecisions
    auto_approval: AutoApprovalSwitch
    publisher: RecordPublisher
    audit: AuditLog
    admin_log: AdminLog
    runner: ActionRunner
    scheduler: Scheduler
    workflow: AnomalyWorkflow
    dispatched: DispatchedAnomalies
    verifier: Verifier
    escalations: Escalations
    auto_shadow: AutoShadow


def safety_limits(settings: RemediatorSettings) -> SafetyLimits:
    return SafetyLimits(
        rate_limit=settings.rate_limit_per_hour,
        cooldown_s=settings.cooldown_s,
        lock_ttl_s=settings.lock_ttl_s,
        breaker_failures=settings.breaker_failures,
        breaker_window_s=settings.breaker_window_s,
        dry_run=settings.dry_run,
        allowed_actions=settings.allowed_action_names,
        denied_targets=settings.denied_target_patterns,
    )


def build_registry_from(settings: RemediatorSettings) -> ActionRegistry:
    return build_registry(load_catalogue(settings.script_catalogue_path))


def build_aws(settings: RemediatorSettings) -> AwsApi | None:
    return AwsApi(AwsConfig.from_settings(settings)) if settings.aws_configured else None


def build_executor(settings: RemediatorSettings, aws: AwsApi | None) -> Executor:
    name = settings.executor_name
    if name == "ssm":
        if aws is None:
            raise ValueError("SCOPS_EXECUTOR=ssm needs AWS: set SCOPS_AWS_REGION")
        return AwsExecutor(aws)
    if name == "local":
        return LocalExecutor()
    return DryRunExecutor()


def opt_in_of(settings: RemediatorSettings) -> OptIn | None:
    """The tag that opts a target in to remediation here, as the IAM policies name it."""
    tag = settings.remediation_opt_in_tag
    return OptIn(tag, settings.env) if tag else None


def build(settings: RemediatorSettings, client: redis.Redis, scheduler: Scheduler) -> Remediator:
    registry = build_registry_from(settings)
    aws = build_aws(settings)
    executor = build_executor(settings, aws)
    rules = RuleStore(client, settings.rules_path, registry)
    safety = SafetyManager(client, safety_limits(settings))
    approvals = ApprovalStore(
        client, ttl_s=settings.approval_ttl_s, start_within_s=settings.approved_start_within_s
    )
    auto_approval = AutoApprovalSwitch(aws, settings.env, cache_s=settings.auto_approve_cache_s)
    publisher = RecordPublisher(
        client, maxlen=settings.stream_maxlen, audit_maxlen=settings.audit_maxlen
    )
    claims = Claims(client, ttl_s=settings.claim_ttl_s, lease_s=settings.claim_lease_s)
    escalations = Escalations(client, ttl_s=settings.escalation_ttl_s)
    auto_shadow = AutoShadow(client)
    dispatched = DispatchedAnomalies(client)
    verifier = Verifier(
        client,
        claims=claims,
        reader=SeriesReader(client, shards=settings.metric_shards),
        outcomes=VerificationOutcomes(
            publisher=publisher,
            escalations=escalations,
            auto_shadow=auto_shadow,
            rules=rules,
            executor_name=executor.name,
        ),
        scheduler=scheduler,
        check_every_s=settings.verify_check_s,
    )
    runner = ActionRunner(
        client,
        checks=SafetyChecks(
            registry=registry,
            safety=safety,
            group_sizes=GroupSizes(aws, cache_s=settings.group_size_cache_s),
        ),
        executor=executor,
        publisher=publisher,
        scheduler=scheduler,
        poll_first_s=settings.ssm_poll_first_s,
        poll_max_s=settings.ssm_poll_max_s,
        claim_ttl_s=settings.claim_ttl_s,
        on_success=verifier.begin,
    )
    parts = WorkflowParts(
        rules=rules,
        claims=claims,
        debouncer=Debouncer(client),
        recent=RecentAnomalies(client),
        approvals=approvals,
        auto_approval=auto_approval,
        runner=runner,
        publisher=publisher,
        scheduler=scheduler,
        escalations=escalations,
        auto_shadow=auto_shadow,
        targets=TargetResolver(aws, opt_in_of(settings)),
        steps=DecisionSteps(client),
        dispatched=dispatched,
        accounts=settings.account_roles,
    )
    workflow = AnomalyWorkflow(parts)
    return Remediator(
        settings=settings,
        redis=client,
        registry=registry,
        rules=rules,
        safety=safety,
        maintenance=MaintenanceWindows(client),
        approvals=approvals,
        decisions=ApprovalDecisions(
            approvals, publisher, scheduler, executor.name, escalations=escalations
        ),
        auto_approval=auto_approval,
        publisher=publisher,
        audit=AuditLog(client),
        admin_log=AdminLog(client),
        runner=runner,
        scheduler=scheduler,
        workflow=workflow,
        dispatched=dispatched,
        verifier=verifier,
        escalations=escalations,
        auto_shadow=auto_shadow,
    )

"""What the core's decision reads of the world, answered by the stores and AWS: targets resolved
in AWS, the safety checks peeked, escalated targets, the auto-approval switch, dry-run. Only
reads: the decision changes nothing (see :mod:`..core.decision`)."""

from __future__ import annotations

from dataclasses import dataclass

from services.remediator.aws.auto_approval import AutoApprovalSwitch
from services.remediator.aws.target_resolution import TargetResolver
from services.remediator.core.accounts import AwsPlace
from services.remediator.core.action_requests import ActionRequest
from services.remediator.core.safety_policy import Refusal
from services.remediator.core.targets import ResolvedTarget, Target
from services.remediator.handling.safety_checks import SafetyChecks
from services.remediator.stores.escalations import Escalations


@dataclass(frozen=True)
class WorldLookups:
    targets: TargetResolver
    checks: SafetyChecks
    escalations: Escalations
    auto_approval_switch: AutoApprovalSwitch

    def resolve(self, target: Target, place: AwsPlace) -> ResolvedTarget:
        return self.targets.resolve(target, place)

    def refusal(self, request: ActionRequest) -> Refusal | None:
        return self.checks.precheck(request).refusal

    def escalation(self, request: ActionRequest) -> str | None:
        return self.escalations.reason(request)

    def auto_approval(self) -> bool:
        return self.auto_approval_switch.enabled()

    def dry_run(self) -> bool:
        return self.checks.safety.dry_run()

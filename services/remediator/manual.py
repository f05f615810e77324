"""Manual requests (``POST /remediation/execute``): an operator asks for an action on a target.
Static refusals (unknown action, invalid parameters, a target the action cannot act on, the
allow and deny lists) are answered at once and recorded; the rest of the safety checks run in
a worker like any other action. A person asked, so the circuit breaker does not apply."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.remediator.errors import RequestRefusedError, UnknownActionError
from services.remediator.records import incident_record
from services.remediator.requests import ActionRequest, Incident
from services.remediator.safety.policy import static_refusal
from services.remediator.targets import Target, TargetError
from services.remediator.wiring import Remediator
from shared.events import RemediationStatus, Severity


class TargetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_ids: list[str] | None = Field(None, examples=[["i-0abc123def4567890"]])
    tags: dict[str, str] | None = Field(None, examples=[{"Name": "web-1"}])
    auto_scaling_group: str | None = Field(None, examples=["web-asg"])

    def resolve(self) -> Target:
        given = [n for n in ("instance_ids", "tags", "auto_scaling_group") if getattr(self, n)]
        if len(given) != 1:
            raise TargetError("give exactly one of instance_ids, tags, auto_scaling_group")
        if self.instance_ids:
            return Target.for_instances(*self.instance_ids)
        if self.tags:
            return Target.for_tags(self.tags)
        return Target.for_group(self.auto_scaling_group or "")


class ManualRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(examples=["restart_service"])
    target: TargetBody
    params: dict[str, object] = Field(default_factory=dict, examples=[{"service": "nginx"}])
    reason: str = Field(min_length=1, max_length=500, examples=["users report timeouts"])
    by: str = Field(min_length=1, max_length=128, description="Who asks.", examples=["ana"])
    resource_id: str | None = Field(None, description="Defaults to the target.")
    severity: Severity = Severity.MEDIUM
    dry_run: bool = False


def prepare(remediator: Remediator, body: ManualRequest, correlation_id: str) -> ActionRequest:
    """The request to queue, or a refusal (raised, after recording it)."""
    subject = uuid.uuid4()
    resource = body.resource_id or _target_name(body.target)
    incident = Incident(
        anomaly_id=subject,
        correlation_id=correlation_id,
        resource_id=resource,
        metric="manual",
        severity=body.severity,
        explanation=f"manual request by {body.by}: {body.reason}",
    )
    try:
        return _checked(remediator, body, subject, incident)
    except UnknownActionError as exc:
        _record_refusal(remediator, body, incident, "unknown_action", str(exc))
        raise
    except RequestRefusedError as exc:
        _record_refusal(remediator, body, incident, exc.rule, exc.reason)
        raise


def _checked(
    remediator: Remediator, body: ManualRequest, subject: uuid.UUID, incident: Incident
) -> ActionRequest:
    definition = remediator.registry.get(body.action)
    if definition is None:
        raise UnknownActionError(body.action, list(remediator.registry))
    try:
        params = definition.parse(body.params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "params"
        raise RequestRefusedError("invalid_params", f"params.{where}: {first['msg']}") from exc
    try:
        target = body.target.resolve()
    except TargetError as exc:
        raise RequestRefusedError("no_target", str(exc)) from exc
    if not definition.accepts(target):
        accepted = " or ".join(sorted(definition.targets))
        raise RequestRefusedError("no_target", f"{body.action} acts on {accepted}")
    denied = tuple(remediator.rules.engine().policy.deny_targets)
    refusal = static_refusal(
        remediator.safety.limits, body.action, target.key, incident.resource_id, denied
    )
    if refusal is not None:
        raise RequestRefusedError(refusal.check, refusal.detail)
    return ActionRequest(
        subject_id=subject,
        incident=incident,
        action=body.action,
        params=params.model_dump(mode="json"),
        target=target,
        reason=f"manual request by {body.by}: {body.reason}",
        risk=definition.risk_for(params),
        denied_targets=denied,
        automatic=False,
        decided_by=body.by,
        dry_run=body.dry_run,
    )


def _target_name(target: TargetBody) -> str:
    if target.instance_ids:
        return target.instance_ids[0]
    if target.tags:
        return next(iter(target.tags.values()))
    return target.auto_scaling_group or "unknown"


def _record_refusal(
    remediator: Remediator, body: ManualRequest, incident: Incident, check: str, detail: str
) -> None:
    record = incident_record(
        incident,
        RemediationStatus.BLOCKED,
        f"{detail} (manual request by {body.by}: {body.reason})",
        action=body.action,
        executor=remediator.runner.executor.name,
        blocked_by=check,
        decided_by=body.by,
        params=dict(body.params),
    )
    remediator.publisher.publish(record)

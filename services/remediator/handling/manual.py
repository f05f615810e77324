"""Manual requests (``POST /remediation/execute``, ChatOps, Slack): an operator asks for an
action on a target.

A manual request takes the decision path of every rule-driven one: the target is resolved
(with AWS, to the instances and their tags), the deny lists and maintenance windows match the
resolved names (never ``resource_id``, which the caller chooses and which only labels the
record), and the approval gate applies the policy's risk tiers, production-critical tags with
M-of-N approvals, escalations and auto-approval. The one who asks never counts as an approver.
A person asked, so the circuit breaker does not apply.

The target may name the AWS account and region to act in (``aws_account``, ``aws_region``):
an account that is neither the remediator's own nor mapped to a role in
``SCOPS_AWS_ACCOUNT_ROLES`` is refused (403), never acted on with the own credentials.

Refusals known at once (unknown action, invalid parameters, a target that names nothing, an
account the remediator may not act in, the allow and deny lists, a safety check that would
refuse now) are answered at once and recorded; the answer to an accepted request says
truthfully what happens next (it runs, it waits for N people, or it is a dry run). The worker
decides again, atomically, when it runs."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from services.remediator.core.accounts import ACCOUNT_PATTERN, REGION_PATTERN, AccountRefused
from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.actions.registry import ACTION_NAMES
from services.remediator.core.decision import Next
from services.remediator.core.records import incident_record
from services.remediator.core.rules.matching import approvers_wanted
from services.remediator.core.safety_policy import Refusal, static_refusal
from services.remediator.core.targets import INSTANCE_ID_PATTERN, Target, TargetError
from services.remediator.errors import RequestRefusedError, UnknownActionError
from services.remediator.handling.approval_gate import approval_id_for
from services.remediator.handling.workflow import AnomalyWorkflow
from shared.events import RemediationStatus, Severity
from shared.identifiers import LabelValue, ResourceId, ShownText
from shared.json_bounds import JsonBoundsError, check_bounds
from shared.schema_alternatives import exactly_one_of

# What a request may name, checked before anything is recorded: the audit log, the history
# and Slack show what a refusal names, so a value that is no name (a line break, 20,000
# characters, a spreadsheet formula) is a 422 naming its field, never an audit record.
# Action names are the catalogue's (lower case, digits, underscores); instance ids, tag keys
# and group names are AWS's; a tag value is visible text of at most 256 characters.
ActionName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
InstanceId = Annotated[str, StringConstraints(pattern=f"^{INSTANCE_ID_PATTERN}$")]
TagKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9 _.:/=+\-@]+$")
]
TagValue = Annotated[LabelValue, StringConstraints(min_length=1, max_length=256)]
ParamName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,63}$")]
# A refused request is recorded with its parameters: they are parameters, not a payload.
PARAMS_MAX = 32
PARAMS_MAX_CHARS = 8192
GroupName = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\w.:/+=@\-]+$")
]


class TargetBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=exactly_one_of(("instance_ids",), ("tags",), ("auto_scaling_group",)),
    )

    instance_ids: list[InstanceId] | None = Field(
        None, min_length=1, max_length=50, examples=[["i-0abc123def4567890"]]
    )
    tags: dict[TagKey, TagValue] | None = Field(
        None, min_length=1, max_length=5, examples=[{"Name": "web-1"}]
    )
    auto_scaling_group: GroupName | None = Field(None, examples=["web-asg"])
    aws_account: str | None = Field(
        None,
        pattern=ACCOUNT_PATTERN,
        description="The AWS account the target is in (default: the remediator's own); it "
        "must be in SCOPS_AWS_ACCOUNT_ROLES.",
        examples=["210987654321"],
    )
    aws_region: str | None = Field(
        None,
        pattern=REGION_PATTERN,
        description="The AWS region the target is in (default: SCOPS_AWS_REGION).",
        examples=["eu-west-1"],
    )

    @model_validator(mode="after")
    def _one_form(self) -> TargetBody:
        """A malformed body (422), not a safety refusal: nothing is recorded."""
        given = [n for n in ("instance_ids", "tags", "auto_scaling_group") if getattr(self, n)]
        if len(given) != 1:
            named = f" ({', '.join(given)} given)" if given else ""
            raise ValueError(f"give exactly one of instance_ids, tags, auto_scaling_group{named}")
        return self

    def resolve(self) -> Target:
        if self.instance_ids:
            return Target.for_instances(*self.instance_ids)
        if self.tags:
            return Target.for_tags(self.tags)
        return Target.for_group(self.auto_scaling_group or "")


class ManualRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Documented with the registered actions; another name is refused (and recorded).
    action: ActionName = Field(
        examples=["restart_service"], json_schema_extra={"enum": list(ACTION_NAMES)}
    )
    target: TargetBody
    params: dict[ParamName, object] = Field(
        default_factory=dict,
        max_length=PARAMS_MAX,
        description=f"The action's parameters: at most {PARAMS_MAX}, named in snake_case, "
        f"at most {PARAMS_MAX_CHARS} characters as JSON.",
        examples=[{"service": "nginx"}],
    )
    reason: ShownText = Field(min_length=1, max_length=500, examples=["users report timeouts"])
    by: ShownText = Field(min_length=1, max_length=128, description="Who asks.", examples=["ana"])
    resource_id: ResourceId | None = Field(
        None,
        description="How records name the incident (defaults to the target). Only a label: "
        "deny lists and maintenance windows match the resolved target.",
    )
    severity: Severity = Severity.MEDIUM
    dry_run: StrictBool = False

    @field_validator("params")
    @classmethod
    def _params_small(cls, value: dict[str, object]) -> dict[str, object]:
        try:  # what no encoder writes back (a lone surrogate, NaN) cannot be recorded
            check_bounds(value, max_depth=8)
        except JsonBoundsError as exc:
            raise ValueError(f"{exc.where}: {exc.reason}") from None
        size = len(json.dumps(value, ensure_ascii=False, default=str))
        if size > PARAMS_MAX_CHARS:
            raise ValueError(f"{size} characters as JSON; at most {PARAMS_MAX_CHARS}")
        return value


class Preview(BaseModel):
    """What happens next to an accepted manual request, as far as can be said now."""

    next: Literal["run", "approval", "dry_run"] = Field(examples=["approval"])
    approvals_required: int = Field(0, examples=[2])
    approval_id: str | None = Field(None, description="The approval it will wait for.")
    why: str = Field("", examples=["the target is tagged production-critical"])

    def describe(self) -> str:
        if self.next == "dry_run":
            return "dry run: nothing will be changed"
        if self.next == "run":
            return f"runs once the safety checks pass ({self.why})"
        people = approvers_wanted(self.approvals_required, requester=True)
        return f"waits for {people} to approve ({self.why}); approval {self.approval_id}"


@dataclass(frozen=True)
class Prepared:
    """An accepted manual request, ready to queue, and what happens to it next."""

    request: ActionRequest
    preview: Preview


def prepare(
    workflow: AnomalyWorkflow,
    body: ManualRequest,
    correlation_id: str,
    *,
    requested_by: str | None = None,
) -> Prepared:
    """The request to queue and what happens next, or a refusal (raised, after recording).
    ``requested_by``: the person asking (the gateway's word), who cannot approve it."""
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
        request = _checked(workflow, body, subject, incident)
        request = request.model_copy(update={"requested_by": requested_by or body.by})
        return Prepared(request, _preview(workflow, request))
    except UnknownActionError as exc:
        _record_refusal(workflow, body, incident, "unknown_action", str(exc))
        raise
    except RequestRefusedError as exc:
        _record_refusal(workflow, body, incident, exc.rule, exc.reason)
        raise


def _preview(workflow: AnomalyWorkflow, request: ActionRequest) -> Preview:
    """The decision the worker will take (the same function), taken now without changing
    anything."""
    engine = workflow.parts.rules.engine()
    resolved = workflow.resolve(request, engine)
    if isinstance(resolved, Refusal):
        raise RequestRefusedError(resolved.check, resolved.detail)
    decision = workflow.decide(resolved, workflow.manual_need(resolved), engine)
    need = decision.need
    if decision.refusal is not None:
        raise RequestRefusedError(decision.refusal.check, decision.refusal.detail)
    if decision.next is Next.DRY_RUN:
        return Preview(next="dry_run", why="dry run")
    if decision.next is Next.ASK:
        return Preview(
            next="approval",
            approvals_required=need.approvals,
            approval_id=approval_id_for(resolved).hex,
            why=need.why,
        )
    return Preview(next="run", why=need.why)


def _checked(
    workflow: AnomalyWorkflow, body: ManualRequest, subject: uuid.UUID, incident: Incident
) -> ActionRequest:
    registry = workflow.parts.runner.registry
    definition = registry.get(body.action)
    if definition is None:
        raise UnknownActionError(body.action, list(registry))
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
    try:
        place = workflow.parts.accounts.place(body.target.aws_account, body.target.aws_region)
    except AccountRefused as exc:
        raise RequestRefusedError(exc.check, exc.detail) from exc
    if not definition.accepts(target):
        accepted = " or ".join(sorted(definition.targets))
        raise RequestRefusedError("no_target", f"{body.action} acts on {accepted}")
    policy = workflow.parts.rules.engine().policy
    denied = tuple(policy.deny_targets)
    blast = policy.default_blast()  # the rules' default: a person's request counts the same
    limits = workflow.parts.runner.safety.limits
    refusal = static_refusal(limits, body.action, target.names(), denied)
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
        blast_max=(blast.max_targets or 0) if blast else 0,
        blast_window_s=blast.window if blast else 3600.0,
        blast_percent=(blast.max_percent or 0.0) if blast else 0.0,
        automatic=False,
        decided_by=body.by,
        dry_run=body.dry_run,
        aws_account=place.account,
        aws_region=place.region,
    )


def _target_name(target: TargetBody) -> str:
    if target.instance_ids:
        return target.instance_ids[0]
    if target.tags:
        return next(iter(target.tags.values()))
    return target.auto_scaling_group or "unknown"


def _record_refusal(
    workflow: AnomalyWorkflow, body: ManualRequest, incident: Incident, check: str, detail: str
) -> None:
    record = incident_record(
        incident,
        RemediationStatus.BLOCKED,
        f"{detail} (manual request by {body.by}: {body.reason})",
        action=body.action,
        executor=workflow.executor_name,
        blocked_by=check,
        decided_by=body.by,
        params=dict(body.params),
    )
    workflow.parts.publisher.publish(record)

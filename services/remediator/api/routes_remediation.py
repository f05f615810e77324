"""Remediation status, dry evaluation, manual and test requests, the audit log, the actions."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.remediator.api.deps import (
    INTERNAL,
    CorrelationDep,
    OptionalPersonDep,
    RemediatorDep,
)
from services.remediator.handling.evaluation import Evaluation, evaluate, synthetic_anomaly
from services.remediator.handling.manual import ManualRequest, Preview, prepare
from services.remediator.stores.audit import AuditQuery, check_cursor
from shared.events import (
    AnomalyEvent,
    RemediationRecord,
    RemediationStatus,
    Severity,
    UtcDatetime,
    utcnow,
)
from shared.identifiers import (
    STREAM_ENTRY_ID_PATTERN,
    Labels,
    MetricName,
    Number,
    ResourceId,
    SampleValue,
    Timestamp,
)
from shared.query_window import NOT_BEFORE_SINCE, refuse_inverted_window
from shared.web import problem_responses

router = APIRouter(prefix="/remediation", tags=["remediation"])


class AnomalyInput(BaseModel):
    """An anomaly to evaluate: the fields of ``anomaly.detected.v1`` that matter here. The
    anomaly may be given whole, as ``GET /anomalies`` lists it: its other fields (id, type,
    times, detectors, explanation...) are read past; a field no anomaly has is refused."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _as_listed(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        detected = AnomalyEvent.model_fields["type"].default
        ignored = set(AnomalyEvent.model_fields) - set(cls.model_fields)
        # Another event's type stays, and is refused by name.
        return {
            k: v for k, v in data.items() if k not in ignored or (k == "type" and v != detected)
        }

    resource_id: ResourceId = Field(examples=["i-0abc123def4567890"])
    metric: MetricName = Field(examples=["cpu_utilization"])
    value: SampleValue = Field(97.5, examples=[97.5])
    severity: Severity = Field(examples=["critical"])
    score: Number = Field(0.95, ge=0, le=1)
    expected_low: Number | None = Field(
        None, description="The band the value left; none given: no band (as an alert's)."
    )
    expected_high: Number | None = None
    labels: Labels = Field(default_factory=dict, examples=[{"service": "nginx"}])
    contributing_metrics: list[MetricName] = Field(default_factory=list, max_length=32)
    observed_at: Timestamp | None = None
    lasted_s: Number = Field(0.0, ge=0, description="How long the anomaly has lasted.")

    def to_event(self, correlation_id: str) -> AnomalyEvent:
        at = self.observed_at or utcnow()
        return AnomalyEvent(
            event_id=AnomalyEvent.derive_id(self.resource_id, self.metric, at),
            correlation_id=correlation_id or "evaluate",
            resource_id=self.resource_id,
            metric=self.metric,
            value=self.value,
            observed_at=at,
            score=self.score,
            severity=self.severity,
            # No band given: the value stands for both bounds, as for an alert (no band is
            # claimed in what the decision says).
            expected_low=_first_given(self.expected_low, self.expected_high, self.value),
            expected_high=_first_given(self.expected_high, self.expected_low, self.value),
            contributing_metrics=self.contributing_metrics,
            model_version="evaluate",
            explanation="evaluation request",
            labels=self.labels,
            lasted_s=self.lasted_s,
        )


def _first_given(*values: float | None) -> float:
    return next(v for v in values if v is not None)


class Queued(BaseModel):
    status: str = Field("queued", examples=["queued"])
    anomaly_id: str = Field(
        description="Find its records with GET /remediation/actions?anomaly_id="
    )
    action: str | None = None
    detail: str = ""
    next: Preview | None = Field(None, description="What happens next (manual requests).")


class SelfTestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resource_id: ResourceId = Field("scops-selftest", examples=["web-1"])
    metric: MetricName = Field("cpu_utilization", examples=["cpu_utilization"])
    severity: Severity = Severity.CRITICAL


class AuditPageOut(BaseModel):
    items: list[RemediationRecord]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page.")


@router.get("/status", summary="Engine and safety status")
def remediation_status(remediator: RemediatorDep) -> dict[str, Any]:
    engine = remediator.rules.engine()
    loaded = engine.loaded
    now = utcnow()
    demoted = remediator.auto_shadow.all()
    demoted_names = {d.rule for d in demoted}
    return {
        "executor": remediator.runner.executor.name,
        "dry_run": remediator.safety.dry_run(),
        "rules": {
            "version": loaded.version,
            "source": loaded.source,
            "loaded_at": loaded.loaded_at.isoformat(),
            "count": len(loaded.rules.rules),
            "shadow": [
                r.name for r in loaded.rules.rules if r.mode == "shadow" or r.name in demoted_names
            ],
            "auto_shadow": [d.as_json() for d in demoted],
            "last_error": remediator.rules.last_error,
        },
        "safety": remediator.safety.counters(),
        "verification": {
            "in_progress": remediator.verifier.in_progress(),
            "escalated_targets": remediator.escalations.active(),
        },
        "pending_approvals": remediator.approvals.count_pending(),
        "maintenance_windows": [
            w.model_dump(mode="json") for w in remediator.maintenance.current() if w.active(now)
        ],
        "auto_approval": {
            "parameter": remediator.auto_approval.name,
            "enabled": remediator.auto_approval.enabled(),
        },
    }


@router.post(
    "/evaluate",
    summary="Dry evaluation: what would happen, and which rule would stop it",
    responses=problem_responses(422),
)
def remediation_evaluate(
    body: AnomalyInput, remediator: RemediatorDep, correlation_id: CorrelationDep
) -> Evaluation:
    return evaluate(remediator.workflow, body.to_event(correlation_id))


@router.post(
    "/execute",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=INTERNAL,
    summary="Ask for an action on a target (same safety checks as automatic actions)",
    responses=problem_responses(401, 403, 422),
)
def remediation_execute(
    body: ManualRequest,
    remediator: RemediatorDep,
    correlation_id: CorrelationDep,
    person: OptionalPersonDep,
) -> Queued:
    prepared = prepare(remediator.workflow, body, correlation_id, requested_by=person or body.by)
    request, preview = prepared.request, prepared.preview
    # Noted first: a worker killed whole with the task reserved would hold it for the
    # broker's visibility timeout (an hour); the sweep sends it again within its stall time.
    remediator.dispatched.note_request(request, int(time.time() * 1000))
    remediator.scheduler.execute(request)
    return Queued(
        anomaly_id=str(request.subject_id),
        action=request.action,
        detail=f"queued: {request.action} on {request.target.describe()}: {preview.describe()}",
        next=preview,
    )


@router.post(
    "/test",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=INTERNAL,
    summary="Send a synthetic anomaly through the whole path, in dry-run",
    responses=problem_responses(401),
)
def remediation_test(
    remediator: RemediatorDep, correlation_id: CorrelationDep, body: SelfTestRequest | None = None
) -> Queued:
    body = body or SelfTestRequest()
    anomaly = synthetic_anomaly(body.resource_id, body.metric, body.severity, correlation_id)
    remediator.scheduler.handle(anomaly, dry_run=True)
    return Queued(anomaly_id=str(anomaly.event_id), detail="synthetic anomaly queued (dry-run)")


@router.get("/actions", summary="The audit log: every decision, newest first")
def remediation_actions(
    remediator: RemediatorDep,
    status_: Annotated[
        RemediationStatus | None, Query(alias="status", examples=["blocked"])
    ] = None,
    action: str | None = None,
    resource_id: str | None = None,
    rule: str | None = None,
    anomaly_id: Annotated[
        uuid.UUID | None,
        Query(description="Any spelling of the anomaly's UUID (upper case, without hyphens)."),
    ] = None,
    blocked_by: str | None = None,
    since: UtcDatetime | None = None,
    until: Annotated[UtcDatetime | None, Query(description=NOT_BEFORE_SINCE)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=41,
            # Refused by check_cursor saying why; the document states it as a pattern.
            json_schema_extra={"pattern": STREAM_ENTRY_ID_PATTERN},
            description="next_cursor of the previous page; 0-0 (nothing is older) is empty.",
        ),
        AfterValidator(check_cursor),
    ] = None,
) -> AuditPageOut:
    refuse_inverted_window(since, until)
    page = remediator.audit.query(
        AuditQuery(
            status=status_.value if status_ is not None else None,
            action=action,
            resource_id=resource_id,
            rule=rule,
            anomaly_id=str(anomaly_id) if anomaly_id is not None else None,
            blocked_by=blocked_by,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
    )
    return AuditPageOut(items=page.records, next_cursor=page.next_cursor)


@router.get("/catalog", summary="The registered actions: what each does, its risk and parameters")
def remediation_catalog(remediator: RemediatorDep) -> list[dict[str, Any]]:
    allowed = remediator.safety.limits.allowed_actions
    return [
        {
            "name": d.name,
            "summary": d.summary,
            "doc": " ".join(d.doc.split()),
            "risk": d.risk.value,
            "targets": sorted(d.targets),
            "allowed": allowed is None or d.name in allowed,
            "params": d.params_model.model_json_schema(),
        }
        for d in remediator.registry.values()
    ]

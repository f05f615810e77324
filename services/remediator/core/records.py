"""Building remediation records (no I/O): one per decision, with a stable id per decision so
a record published twice is recognisably the same."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from services.remediator.core.action_requests import ActionRequest, Incident
from shared.events import ApprovalVote, RemediationRecord, RemediationStatus

OUTPUT_EXCERPT = 2000


def record_id(
    subject: uuid.UUID, action: str | None, status: RemediationStatus, detail: str = ""
) -> uuid.UUID:
    return uuid.uuid5(subject, f"{action}:{status}{':' + detail if detail else ''}")


def incident_record(
    incident: Incident,
    status: RemediationStatus,
    reason: str,
    *,
    action: str | None = None,
    executor: str,
    subject: uuid.UUID | None = None,
    id_detail: str = "",
    **fields: Any,
) -> RemediationRecord:
    output = fields.pop("output_excerpt", "")
    return RemediationRecord.model_validate(
        {
            "event_id": record_id(subject or incident.anomaly_id, action, status, id_detail),
            "correlation_id": incident.correlation_id,
            "anomaly_id": incident.anomaly_id,
            "resource_id": incident.resource_id,
            "metric": incident.metric,
            "severity": incident.severity,
            "action": action,
            "status": status,
            "reason": reason,
            "executor": executor,
            "anomaly_value": incident.value,
            "expected_low": incident.expected_low,
            "expected_high": incident.expected_high,
            "anomaly_explanation": incident.explanation,
            "anomaly_observed_at": incident.observed_at,
            "output_excerpt": output[-OUTPUT_EXCERPT:] if output else "",
            **fields,
        }
    )


def request_record(
    request: ActionRequest,
    status: RemediationStatus,
    reason: str,
    *,
    executor: str,
    id_detail: str = "",
    **fields: Any,
) -> RemediationRecord:
    fields.setdefault("rule", request.rule)
    fields.setdefault("risk", request.risk.value)
    fields.setdefault("target", request.target.key)
    fields.setdefault("params", request.params)
    fields.setdefault("run_id", request.run_id)
    fields.setdefault("approval_id", request.approval_id)
    fields.setdefault("decided_by", request.decided_by)
    fields.setdefault("votes", list(request.votes))
    return incident_record(
        request.incident,
        status,
        reason,
        action=request.action,
        executor=executor,
        subject=request.subject_id,
        id_detail=id_detail,
        **fields,
    )


def votes_described(votes: Sequence[ApprovalVote]) -> str:
    """``ana (key 4f1c) via API key at 2026-12-06 08:40:01 UTC ("looks fine"), ben ...``:
    each vote with what is known of it, oldest first."""
    return ", ".join(
        v.described() + (f' ("{" ".join(v.comment.split())}")' if v.comment else "") for v in votes
    )

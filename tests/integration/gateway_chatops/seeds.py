"""Data the ChatOps tests ask about, put where the services keep it: anomalies through the
gateway's Alertmanager receiver, decisions in the remediator's audit log, approvals in its
approval store, an anomaly the detector raised (so it takes feedback)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import redis

from services.remediator.core.action_requests import ActionRequest, Incident
from services.remediator.core.risk import Risk
from services.remediator.core.targets import Target
from services.remediator.stores.approvals import ApprovalStore
from services.remediator.stores.audit import RecordPublisher
from shared.events import RemediationRecord, RemediationStatus, Severity


def alert(
    status: str,
    resource: str,
    name: str,
    severity: str,
    starts: datetime,
    ends: datetime | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "instance": resource, "severity": severity},
        "annotations": {"summary": f"{name} on {resource}", "value": "97.5"},
        "startsAt": starts.isoformat(),
        "endsAt": ends.isoformat() if ends else "0001-01-01T00:00:00Z",
        "fingerprint": f"{resource}-{name}",
    }


def alertmanager(status: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": "4", "status": status, "receiver": "smartcloudops", "alerts": alerts}


def seed_anomalies(gateway: str, ingest_key: str, viewer_key: str, now: datetime) -> None:
    """web-1: HighCPU critical, open for 10 min; DiskFull medium, 40 to 30 min ago.
    db-1: HighLoad critical, open for 5 min. web-2: HighMemory high, open for 3 h."""
    firing = [
        alert("firing", "web-1", "HighCPU", "critical", now - timedelta(minutes=10)),
        alert("firing", "web-1", "DiskFull", "warning", now - timedelta(minutes=40)),
        alert("firing", "db-1", "HighLoad", "critical", now - timedelta(minutes=5)),
        alert("firing", "web-2", "HighMemory", "high", now - timedelta(hours=3)),
    ]
    resolved = [
        alert(
            "resolved",
            "web-1",
            "DiskFull",
            "warning",
            now - timedelta(minutes=40),
            now - timedelta(minutes=30),
        )
    ]
    auth = {"Authorization": f"Bearer {ingest_key}"}
    for status, alerts in (("firing", firing), ("resolved", resolved)):
        reply = httpx.post(
            f"{gateway}/v1/alerts/alertmanager", json=alertmanager(status, alerts), headers=auth
        )
        assert reply.status_code == 202, reply.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        items = httpx.get(
            f"{gateway}/anomalies", headers={"X-API-Key": viewer_key}, params={"limit": 50}
        ).json()["items"]
        if len(items) == 4 and any(i.get("resolved_at") for i in items):
            return
        time.sleep(0.1)
    raise AssertionError("the gateway did not index the seeded anomalies")


def restart_records(resource: str, at: datetime) -> list[RemediationRecord]:
    """What the remediator records for one automatic restart: running, then succeeded."""
    anomaly = uuid.uuid4()
    common: dict[str, Any] = {
        "anomaly_id": anomaly,
        "resource_id": resource,
        "metric": "cpu_utilization",
        "severity": Severity.CRITICAL,
        "action": "restart_service",
        "executor": "ssm",
        "rule": "cpu-critical",
        "risk": "medium",
        "target": f"tag:Name={resource}",
        "params": {"service": "app"},
        "run_id": uuid.uuid4().hex,
        "anomaly_value": 97.5,
        "expected_low": 20.0,
        "expected_high": 50.0,
        "anomaly_explanation": "cpu_utilization 97.5 far above its usual 20 to 50",
    }
    reason = "rule cpu-critical: critical anomaly on cpu_utilization"
    return [
        RemediationRecord(
            **common, status=RemediationStatus.RUNNING, reason=reason, occurred_at=at
        ),
        RemediationRecord(
            **common,
            status=RemediationStatus.SUCCEEDED,
            reason=f"{reason}; app is active again",
            occurred_at=at + timedelta(seconds=8),
            duration_s=8.0,
        ),
    ]


def seed_audit(client: redis.Redis, records: list[RemediationRecord]) -> None:
    publisher = RecordPublisher(client, maxlen=10_000, audit_maxlen=10_000)
    for record in records:
        publisher.publish(record)


def pending_approval(client: redis.Redis, group: str) -> str:
    """A high-risk scale-in waiting for one person, as the remediator's workflow leaves it."""
    approval = uuid.uuid4()
    incident = Incident(
        anomaly_id=uuid.uuid4(),
        correlation_id="chatops-test",
        resource_id=group,
        metric="cpu_utilization",
        severity=Severity.LOW,
        explanation="idle pool",
    )
    request = ActionRequest(
        subject_id=approval,
        incident=incident,
        action="scale_in",
        params={"by": 1},
        target=Target.for_group(group),
        reason="rule idle: the pool is idle",
        rule="idle",
        risk=Risk.HIGH,
        automatic=False,
        approval_id=approval.hex,
    )
    store = ApprovalStore(client, ttl_s=600)
    return store.create(request, required=1, why="high risk", approval_id=approval.hex).id


def detector_anomaly(client: redis.Redis, resource: str, metric: str) -> str:
    """An anomaly as the detector keeps it for feedback (what it raised in the last days)."""
    anomaly_id = str(uuid.uuid4())
    raw = {
        "event_id": anomaly_id,
        "resource_id": resource,
        "metric": metric,
        "value": 97.5,
        "expected_low": 20.0,
        "expected_high": 50.0,
    }
    # The key of services/detector/consumer.py's anomaly_key (not imported: it loads models).
    client.set(f"scops:{{detector}}:anomaly:{anomaly_id}", json.dumps(raw), ex=3600)
    return anomaly_id

"""Verification judges the metric, not anyone's say-so: a gateway, a real Celery worker and the
remediator's API consuming the anomalies stream. A resolved Alertmanager alert posted with an
ingest key neither verifies an action nor ends a debounce streak; the detector's resolution
still verifies; an action answering an alert, with no metric to judge by, is recorded as
unverified when its alert resolves, not as verified."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis

from scops.keys import create_key
from services.gateway.api_keys import Role
from services.remediator.app import create_app
from services.remediator.handling.verification import alert_resolved_key
from services.remediator.stores import redis_keys
from shared.bus import encode_event
from shared.events import AnomalyResolved, RemediationRecord, RemediationStatus, Severity
from shared.streams import ANOMALIES
from tests.support.events import cpu_anomaly
from tests.support.local_remediator import local_remediator
from tests.support.processes import StackProcess, service, worker
from tests.support.records import remediation_records

RULES = """\
version: 1
rules:
  - name: cpu-relief
    match: {metric: cpu_utilization}
    verify: {within: 3s, back_to_normal: true}
    actions: [{action: optimize_performance, params: {script: relieve}}]
  - name: load-lasting
    match: {metric: load_avg}
    for: 5m
    actions: [{action: optimize_performance, params: {script: relieve}}]
"""
STARTS = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)


def alert(status: str, instance: str, name: str) -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "smartcloudops",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": name, "instance": instance, "severity": "critical"},
                "annotations": {"value": "97"},
                "startsAt": STARTS.isoformat(),
                "endsAt": datetime.now(UTC).isoformat()
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "fingerprint": f"{instance}-{name}",
            }
        ],
    }


class Stack:
    def __init__(self, client: redis.Redis, gateway: StackProcess, worker: StackProcess) -> None:
        self.redis = client
        self.gateway = gateway
        self.worker = worker
        self.ingest: dict[str, str] = {}

    def post_alert(self, status: str, instance: str, name: str) -> dict[str, Any]:
        reply = httpx.post(
            f"{self.gateway.url}/v1/alerts/alertmanager",
            json=alert(status, instance, name),
            headers=self.ingest,
        )
        assert reply.status_code == 202, reply.text
        body: dict[str, Any] = reply.json()
        return body

    def publish(self, event: Any) -> None:
        self.redis.xadd(ANOMALIES, encode_event(event))  # as the detector does

    async def until(
        self, wanted: Callable[[list[RemediationRecord]], bool]
    ) -> list[RemediationRecord]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.worker.assert_alive()
            found = remediation_records(self.redis)
            if wanted(found):
                return found
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out: {[(r.resource_id, r.status) for r in found]}")


def having(resource_id: str, status: RemediationStatus) -> Callable[[list[Any]], bool]:
    return lambda found: any(r.resource_id == resource_id and r.status == status for r in found)


def statuses(found: list[RemediationRecord], resource_id: str) -> list[RemediationStatus]:
    return [r.status for r in found if r.resource_id == resource_id]


@asynccontextmanager
async def running(redis_url: str, log_dir: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    env, settings = local_remediator(redis_url, tmp_path, RULES, "verify-trust-token")
    app = create_app(settings)
    client = redis.Redis.from_url(redis_url)
    proc = worker(env, log_dir, concurrency=2).start()
    gateway = service("gateway", env, log_dir).start()
    try:
        async with app.router.lifespan_context(app):
            gateway.wait_ready(60)
            stack = Stack(client, gateway, proc)
            token = await create_key(redis_url, "alertmanager", Role.INGEST)
            stack.ingest = {"Authorization": f"Bearer {token}"}
            yield stack
    finally:
        gateway.stop()
        proc.stop()
        client.close()


async def test_a_posted_resolved_alert_neither_verifies_nor_ends_a_streak(
    redis_url: str, log_dir: Path, tmp_path: Path
) -> None:
    async with running(redis_url, log_dir, tmp_path) as stack:
        fixed, forged = cpu_anomaly("web-5"), cpu_anomaly("web-1")
        stack.publish(fixed)
        stack.publish(forged)
        lasting = cpu_anomaly("web-7", metric="load_avg")
        stack.publish(lasting)
        await stack.until(
            lambda f: (
                having("web-1", RemediationStatus.SUCCEEDED)(f)
                and having("web-5", RemediationStatus.SUCCEEDED)(f)
                and having("web-7", RemediationStatus.PROPOSED)(f)
            )
        )
        assert stack.redis.exists(redis_keys.debounce("web-7", "load_avg"))

        # Anyone with an ingest key says web-1's CPU and web-7's load are fine again.
        stack.post_alert("resolved", "web-1", "cpu_utilization")
        stack.post_alert("resolved", "web-7", "load_avg")
        # The detector, which read web-5's series, says so of web-5.
        stack.publish(
            AnomalyResolved(
                anomaly_id=fixed.event_id,
                resource_id="web-5",
                metric="cpu_utilization",
                started_at=fixed.observed_at,
                resolved_at=datetime.now(UTC),
                duration_s=30,
                peak_severity=Severity.CRITICAL,
                last_value=31.0,
            )
        )
        found = await stack.until(having("web-5", RemediationStatus.VERIFIED))
        (verified,) = [r for r in found if r.status == RemediationStatus.VERIFIED]
        assert "the detector resolved the anomaly" in verified.reason
        found = await stack.until(having("web-1", RemediationStatus.NOT_IMPROVED))
        assert RemediationStatus.VERIFIED not in statuses(found, "web-1")
        assert stack.redis.exists(redis_keys.debounce("web-7", "load_avg")), "the streak was ended"


async def test_an_action_on_an_alert_with_no_metric_is_unverified_not_verified(
    redis_url: str, log_dir: Path, tmp_path: Path
) -> None:
    async with running(redis_url, log_dir, tmp_path) as stack:
        (anomaly_id,) = stack.post_alert("firing", "web-9", "cpu_utilization")["anomaly_ids"]
        await stack.until(having("web-9", RemediationStatus.SUCCEEDED))
        stack.post_alert("resolved", "web-9", "cpu_utilization")
        deadline = time.monotonic() + 10
        while not stack.redis.exists(alert_resolved_key(anomaly_id)):
            assert time.monotonic() < deadline, "the remediator never noted the alert's word"
            await asyncio.sleep(0.05)
        found = await stack.until(having("web-9", RemediationStatus.UNVERIFIED))
        assert RemediationStatus.VERIFIED not in statuses(found, "web-9")
        (unverified,) = [r for r in found if r.status == RemediationStatus.UNVERIFIED]
        assert unverified.reason.startswith("unverified: no sample of cpu_utilization since")

"""Post-action verification through the whole remediator on a real Redis: the API consumes the
anomalies stream and dispatches to a real Celery worker process; the detector's resolution and
the metric samples on the metrics stream decide whether an action improved anything. An action
that did not is escalated (the next one on its target waits for a person) and a rule whose
actions keep not improving anything goes to shadow mode, visible in the API until reset."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import redis

from services.remediator.app import create_app
from shared.bus import encode_event
from shared.events import (
    AnomalyResolved,
    Event,
    MetricBatch,
    MetricSample,
    RemediationRecord,
    RemediationStatus,
    Severity,
)
from shared.streams import ANOMALIES, metrics_stream, shard_of
from tests.support.events import cpu_anomaly
from tests.support.local_remediator import local_remediator
from tests.support.processes import StackProcess, worker
from tests.support.records import remediation_records

TOKEN = "verify-token"
RULES = """\
version: 1
policy:
  auto_shadow: {after: 2, window: 1h}
rules:
  - name: cpu-relief
    match: {metric: cpu_utilization}
    verify: {within: 3s, back_to_normal: true}
    actions: [{action: optimize_performance, params: {script: relieve}}]
"""


def publish(client: redis.Redis, stream: str, event: Event) -> None:
    client.xadd(stream, encode_event(event))  # as the detector or the gateway would


def high_samples(client: redis.Redis, resource_id: str) -> None:
    now = datetime.now(UTC)
    samples = [
        MetricSample(resource_id=resource_id, metric="cpu_utilization", value=97.5, timestamp=now)
    ]
    publish(client, metrics_stream(shard_of(resource_id, 4)), MetricBatch(samples=samples))


async def wait_until(
    proc: StackProcess, client: redis.Redis, wanted: Callable[[list[RemediationRecord]], bool]
) -> list[RemediationRecord]:
    """Waits without blocking the event loop, where the API consumes the anomalies stream."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        proc.assert_alive()
        found = remediation_records(client)
        if wanted(found):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"timed out: {[(r.resource_id, r.status) for r in remediation_records(client)]}"
    )


def having(
    resource_id: str, status: RemediationStatus
) -> Callable[[list[RemediationRecord]], bool]:
    return lambda found: any(r.resource_id == resource_id and r.status == status for r in found)


def only(found: list[RemediationRecord], resource_id: str) -> list[RemediationStatus]:
    return [r.status for r in found if r.resource_id == resource_id and not r.shadow]


async def test_verified_not_improved_escalated_then_the_rule_goes_to_shadow_mode(
    redis_url: str, sync_redis: redis.Redis, log_dir: Path, tmp_path: Path
) -> None:
    env, settings = local_remediator(redis_url, tmp_path, RULES, TOKEN)
    app = create_app(settings)
    proc = worker(env, log_dir, concurrency=2).start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://remediator") as api,
        ):
            # web-1 gets fixed (the detector resolves it); web-2 stays hot.
            first = cpu_anomaly("web-1")
            publish(sync_redis, ANOMALIES, first)
            publish(sync_redis, ANOMALIES, cpu_anomaly("web-2"))
            await wait_until(
                proc,
                sync_redis,
                lambda f: (
                    having("web-1", RemediationStatus.SUCCEEDED)(f)
                    and having("web-2", RemediationStatus.SUCCEEDED)(f)
                ),
            )
            resolved = AnomalyResolved(
                anomaly_id=first.event_id,
                resource_id="web-1",
                metric="cpu_utilization",
                started_at=first.observed_at,
                resolved_at=datetime.now(UTC),
                duration_s=30,
                peak_severity=Severity.CRITICAL,
                last_value=31.0,
            )
            publish(sync_redis, ANOMALIES, resolved)
            high_samples(sync_redis, "web-2")
            found = await wait_until(proc, sync_redis, having("web-1", RemediationStatus.VERIFIED))
            verified = next(r for r in found if r.status == RemediationStatus.VERIFIED)
            assert "the detector resolved the anomaly" in verified.reason
            assert verified.observed_metric == "cpu_utilization"
            found = await wait_until(
                proc, sync_redis, having("web-2", RemediationStatus.NOT_IMPROVED)
            )
            (not_improved,) = [r for r in found if r.status == RemediationStatus.NOT_IMPROVED]
            assert not_improved.observed_value == 97.5
            assert "not back in its expected range 20 to 50 within 3s" in not_improved.reason
            assert "the next action on instances tagged Name=web-2 waits for a person" in (
                not_improved.reason
            )
            status = (await api.get("/remediation/status")).json()
            assert [e["target"] for e in status["verification"]["escalated_targets"]] == [
                "tag:Name=web-2"
            ]

            # The next action on web-2 waits for a person instead of repeating.
            publish(sync_redis, ANOMALIES, cpu_anomaly("web-2"))
            found = await wait_until(
                proc, sync_redis, having("web-2", RemediationStatus.PENDING_APPROVAL)
            )
            pending = next(r for r in found if r.status == RemediationStatus.PENDING_APPROVAL)
            assert pending.reason.startswith("escalated: the last action on instances tagged")

            # A second action of the rule that does not help: the rule goes to shadow mode.
            publish(sync_redis, ANOMALIES, cpu_anomaly("web-3"))
            await wait_until(proc, sync_redis, having("web-3", RemediationStatus.SUCCEEDED))
            high_samples(sync_redis, "web-3")
            found = await wait_until(
                proc, sync_redis, having("web-3", RemediationStatus.RULE_SHADOWED)
            )
            (notice,) = [r for r in found if r.status == RemediationStatus.RULE_SHADOWED]
            assert notice.rule == "cpu-relief" and not notice.shadow
            assert notice.reason.startswith("rule cpu-relief switched to shadow mode: 2 of its")

            publish(sync_redis, ANOMALIES, cpu_anomaly("web-4"))
            found = await wait_until(proc, sync_redis, having("web-4", RemediationStatus.NO_ACTION))
            would, nothing = [r for r in found if r.resource_id == "web-4"]
            assert would.status == RemediationStatus.PROPOSED
            assert "(in shadow mode: its actions did not improve anything)" in would.reason
            assert nothing.status == RemediationStatus.NO_ACTION
            assert nothing.reason.startswith("only shadow rules match: cpu-relief (switched")

            status = (await api.get("/remediation/status")).json()
            assert status["rules"]["shadow"] == ["cpu-relief"]
            assert [d["rule"] for d in status["rules"]["auto_shadow"]] == ["cpu-relief"]
            assert status["rules"]["auto_shadow"][0]["not_improved"] == 2
            listed = (await api.get("/rules")).json()["rules"][0]
            assert (listed["mode"], listed["effective_mode"]) == ("live", "shadow")
            reset = await api.post(
                "/rules/cpu-relief/auto-shadow/reset",
                json={"by": "ana"},
                headers={"X-Internal-Token": TOKEN},
            )
            assert reset.json() == {"rule": "cpu-relief", "was_shadowed": True}
            listed = (await api.get("/rules")).json()["rules"][0]
            assert listed["effective_mode"] == "live" and listed["auto_shadow"] is None
            log = (await api.get("/remediation/admin-log")).json()
            assert log[0]["kind"] == "auto_shadow_reset" and log[0]["by"] == "ana"
    finally:
        assert proc.stop() == 0, proc.log_tail()

    final = remediation_records(sync_redis)
    assert only(final, "web-1") == [RemediationStatus.SUCCEEDED, RemediationStatus.VERIFIED]
    assert only(final, "web-2") == [
        RemediationStatus.SUCCEEDED,
        RemediationStatus.NOT_IMPROVED,
        RemediationStatus.PENDING_APPROVAL,
    ]
    assert only(final, "web-3") == [
        RemediationStatus.SUCCEEDED,
        RemediationStatus.NOT_IMPROVED,
        RemediationStatus.RULE_SHADOWED,
    ]

"""Post-action verification in-process on a real Redis: samples on the metrics stream decide,
checks follow one another without waiting in a worker, a decision is made once however many
checks race, a lost check is sent again by the sweep, and an approval ends an escalation."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from services.remediator.background import sweep_once
from services.remediator.core.action_requests import ActionRequest
from services.remediator.stores import redis_keys
from shared.bus import encode_event
from shared.events import MetricBatch, MetricSample, RemediationStatus
from shared.streams import metrics_stream, shard_of
from tests.integration.remediator.conftest import Harness, HarnessFactory
from tests.support.remediator_fixtures import AnomalyFactory

RULES = """\
version: 1
rules:
  - name: disk
    match: {metric: disk_used}
    verify: {within: 1m, back_below: 80, samples: 2}
    actions: [{action: cleanup_disk}]
  - name: cpu
    match: {metric: cpu_utilization}
    verify: {within: 1s}
    actions: [{action: optimize_performance, params: {script: collect-diagnostics}}]
"""


def samples(h: Harness, resource_id: str, metric: str, *values: float) -> None:
    now = datetime.now(UTC)
    batch = MetricBatch(
        samples=[
            MetricSample(resource_id=resource_id, metric=metric, value=v, timestamp=now)
            for v in values
        ]
    )
    h.client.xadd(metrics_stream(shard_of(resource_id, 4)), encode_event(batch))


def test_samples_back_below_the_value_verify_the_action(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES, executor="local")
    done = h.workflow.handle(anomaly(resource_id="db-1", metric="disk_used"))
    assert done is not None and done.status == RemediationStatus.DRY_RUN  # not a catalogue script
    assert h.work.verifications == []  # nothing ran: nothing to verify

    h = harness(RULES, executor="local", verify_check_s=5)
    ran = h.workflow.handle(anomaly(resource_id="db-2", metric="cpu_utilization"))
    assert ran is not None and ran.status == RemediationStatus.SUCCEEDED
    ((run_id, delay, follow),) = h.work.verifications
    assert (run_id, delay, follow) == (ran.run_id, 1.0, True)  # the first check, at most 1s
    assert run_id is not None
    verifier = h.remediator.verifier
    assert verifier.check(run_id) is None  # nothing seen yet, time not up: look again
    assert [v[2] for v in h.work.verifications] == [True, True]
    samples(h, "db-2", "cpu_utilization", 99.0)
    samples(h, "db-2", "memory_used", 10.0)
    samples(h, "web-9", "cpu_utilization", 10.0)
    time.sleep(1.0)
    decided = verifier.check(run_id, follow=False)
    assert decided is not None and decided.status == RemediationStatus.NOT_IMPROVED
    assert decided.observed_value == 99.0  # the series' own sample, not the others
    assert verifier.check(run_id) is None  # decided once
    assert verifier.in_progress() == 0


def test_verified_from_samples_and_decided_once(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(
        RULES.replace(
            "actions: [{action: cleanup_disk}]",
            "actions: [{action: optimize_performance, params: {script: collect-diagnostics}}]",
        ),
        executor="local",
    )
    ran = h.workflow.handle(anomaly(resource_id="db-3", metric="disk_used"))
    assert ran is not None and ran.status == RemediationStatus.SUCCEEDED and ran.run_id
    samples(h, "db-3", "disk_used", 93.0, 78.0)
    assert h.remediator.verifier.check(ran.run_id) is None  # one sample back: two are needed
    samples(h, "db-3", "disk_used", 71.5)
    # Two checks at once (a trigger and the scheduled one): one decides.
    claim = h.remediator.workflow.parts.claims.acquire(
        ran_subject(h, ran.run_id), "verify-optimize_performance", resume_waiting=True
    )
    assert h.remediator.verifier.check(ran.run_id, follow=False) is None  # busy
    claim.wait()
    verified = h.remediator.verifier.check(ran.run_id)
    assert verified is not None and verified.status == RemediationStatus.VERIFIED
    assert verified.reason.startswith("disk_used back below 80 ")
    assert verified.observed_value == 71.5 and verified.observed_metric == "disk_used"
    assert h.remediator.verifier.check(ran.run_id) is None
    assert [r.status for r in h.records()] == [
        RemediationStatus.SUCCEEDED,
        RemediationStatus.VERIFIED,
    ]


def ran_subject(h: Harness, run_id: str) -> uuid.UUID:
    raw = h.client.hget(redis_keys.verification(run_id), "request")
    assert raw is not None
    return ActionRequest.model_validate_json(raw).subject_id


def test_the_sweep_sends_lost_checks_and_an_approval_ends_the_escalation(
    harness: HarnessFactory, anomaly: AnomalyFactory
) -> None:
    h = harness(RULES, executor="local", cooldown_s=0)
    ran = h.workflow.handle(anomaly(resource_id="web-7"))
    assert ran is not None and ran.run_id
    h.client.zadd(redis_keys.VERIFYING, {ran.run_id: 1})  # its check task was lost long ago
    h.work.verifications.clear()
    assert sweep_once(h.remediator)["reverified"] == 1
    assert h.work.verifications == [(ran.run_id, 0, False)]
    assert sweep_once(h.remediator)["reverified"] == 0  # not again at once
    time.sleep(1.0)
    decided = h.remediator.verifier.check(ran.run_id, follow=False)
    assert decided is not None and decided.status == RemediationStatus.NOT_IMPROVED
    assert "no sample of cpu_utilization since optimize_performance" in decided.reason

    later = anomaly(resource_id="web-7", observed_at=datetime(2026, 11, 26, 18, 5, tzinfo=UTC))
    pending = h.workflow.handle(later)
    assert pending is not None and pending.status == RemediationStatus.PENDING_APPROVAL
    assert pending.approval_id and pending.reason.startswith("escalated: the last action")
    h.remediator.decisions.approve(pending.approval_id, "ana")
    assert h.remediator.escalations.active() == []
    again = h.workflow.handle(
        anomaly(resource_id="web-7", observed_at=datetime(2026, 11, 26, 18, 9, tzinfo=UTC))
    )
    assert again is not None and again.status == RemediationStatus.SUCCEEDED

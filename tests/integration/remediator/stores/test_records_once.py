"""A record written again (its writer died after writing it and before it could say so, and
the sweep or a redelivery wrote it once more, with the same derived id) is one decision: the
audit log lists it once, and the API's counters count it once, also when the stream delivers
it twice."""

from __future__ import annotations

import redis
from prometheus_client import REGISTRY
from redis.asyncio import Redis as AsyncRedis

from services.remediator import metrics
from services.remediator.core.action_requests import Incident
from services.remediator.core.records import incident_record
from services.remediator.stores.audit import AuditLog, AuditQuery, RecordPublisher
from shared.bus import StreamEntry
from shared.events import RemediationRecord, RemediationStatus
from shared.streams import REMEDIATIONS
from tests.support.remediator_fixtures import AnomalyFactory


def _failed(anomaly: AnomalyFactory, resource_id: str) -> RemediationRecord:
    incident = Incident.from_anomaly(anomaly(resource_id=resource_id))
    return incident_record(
        incident,
        RemediationStatus.FAILED,
        "exit code 1",
        action="restart_service",
        executor="ssm",
        error_code="ExitCode",
    )


def test_a_record_written_twice_is_listed_once(
    sync_redis: redis.Redis, anomaly: AnomalyFactory
) -> None:
    publisher = RecordPublisher(sync_redis, maxlen=1000, audit_maxlen=1000)
    record, other = _failed(anomaly, "web-twice"), _failed(anomaly, "web-other")
    publisher.publish(record)
    publisher.publish_many([record, other])  # the sweep writes what a dead worker had written

    page = AuditLog(sync_redis).query(AuditQuery(resource_id="web-twice"))
    assert [r.event_id for r in page.records] == [record.event_id]
    listed = AuditLog(sync_redis).query(AuditQuery(limit=500)).records
    assert sorted(r.resource_id for r in listed if r.resource_id.startswith("web-")) == [
        "web-other",
        "web-twice",
    ]


async def test_a_record_delivered_twice_is_counted_once(
    async_redis: AsyncRedis, anomaly: AnomalyFactory
) -> None:
    counter = metrics.RecordCounter(async_redis)
    labels = {"reason": "ExitCode"}
    before = REGISTRY.get_sample_value("remediation_failure_total", labels) or 0.0
    record = _failed(anomaly, "web-counted")
    await counter(StreamEntry(REMEDIATIONS, "1-0", record))
    await counter.count_all([StreamEntry(REMEDIATIONS, "2-0", record)])  # written again
    after = REGISTRY.get_sample_value("remediation_failure_total", labels) or 0.0
    assert after - before == 1

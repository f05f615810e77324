"""Prometheus Alertmanager's webhook on a real gateway: firing and resolved alerts, grouped,
become anomaly events, and the anomaly list shows them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from shared.streams import ANOMALIES
from tests.support.processes import StackProcess, api_key, service, stack_env

# Alerts are refused when timed more than 7 days before the gateway's clock.
STARTS = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
ENDS = STARTS + timedelta(minutes=20)


def alert(status: str, instance: str, severity: str, fingerprint: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "HighCPU",
            "instance": instance,
            "severity": severity,
            "job": "node",
        },
        "annotations": {"summary": f"CPU above 95 % on {instance}", "value": "97.3"},
        "startsAt": STARTS.isoformat(),
        "endsAt": ENDS.isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=cpu",
        "fingerprint": fingerprint,
    }


def payload(status: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Alertmanager's webhook body, version 4, as it sends a group."""
    return {
        "version": "4",
        "groupKey": '{}/{}:{alertname="HighCPU"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "smartcloudops",
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": {"alertname": "HighCPU", "job": "node"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one gateway serves the module (the tests that add
    anomalies add them on resources of their own)."""
    return module_redis


@pytest.fixture(scope="module")
def gateway(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    logs = tmp_path_factory.mktemp("gateway-alerts-logs")
    process = service("gateway", stack_env(module_redis), logs).start().wait_ready()
    yield process
    process.stop()


def test_firing_then_resolved_alerts_become_anomalies(
    gateway: StackProcess, redis_url: str, sync_redis: redis.Redis
) -> None:
    ingest = {"Authorization": f"Bearer {api_key(redis_url, 'ingest')}"}
    viewer = {"X-API-Key": api_key(redis_url, "viewer")}
    url = f"{gateway.url}/v1/alerts/alertmanager"
    firing = payload(
        "firing",
        [alert("firing", "web-1", "critical", "aa01"), alert("firing", "web-2", "warning", "aa02")],
    )
    reply = httpx.post(url, json=firing, headers=ingest)
    assert reply.status_code == 202, reply.text
    assert reply.json()["firing"] == 2
    again = httpx.post(url, json=firing, headers=ingest)  # Alertmanager repeats itself
    assert again.json()["anomaly_ids"] == reply.json()["anomaly_ids"]

    events = [json.loads(f[b"data"]) for _, f in sync_redis.xrange(ANOMALIES)]
    by_resource = {e["resource_id"]: e for e in events}
    assert by_resource["web-1"]["severity"] == "critical"
    assert by_resource["web-2"]["severity"] == "medium"
    assert by_resource["web-1"]["metric"] == "HighCPU"
    assert by_resource["web-1"]["value"] == 97.3
    assert "CPU above 95 %" in by_resource["web-1"]["explanation"]

    resolved = payload("resolved", [alert("resolved", "web-1", "critical", "aa01")])
    assert httpx.post(url, json=resolved, headers=ingest).json()["resolved"] == 1
    web1 = reply.json()["anomaly_ids"][0]
    deadline = time.monotonic() + 10
    while True:
        item = httpx.get(f"{gateway.url}/anomalies/{web1}", headers=viewer)
        if item.status_code == 200 and "resolved_at" in item.json():
            break
        assert time.monotonic() < deadline, item.text
        time.sleep(0.1)
    assert item.json()["duration_s"] == 1200

    page = httpx.get(f"{gateway.url}/anomalies", params={"severity": "high"}, headers=viewer)
    assert [a["resource_id"] for a in page.json()["items"]] == ["web-1"]
    listing = httpx.get(
        f"{gateway.url}/anomalies", params={"resource_id": "web-2"}, headers=viewer
    ).json()
    assert [a["severity"] for a in listing["items"]] == ["medium"]


def test_a_group_of_more_than_a_thousand_alerts_is_taken_whole(
    gateway: StackProcess, redis_url: str
) -> None:
    """Alertmanager sends a group's every alert in one notification (``max_alerts`` is 0,
    unlimited, unless set), and does not send again after a 4xx: a fleet-wide outage of 1,500
    nodes was refused whole (422, "at most 1000 items"), and every alert of it lost."""
    ingest = {"Authorization": f"Bearer {api_key(redis_url, 'ingest')}"}
    alerts = [alert("firing", f"node-{i}", "warning", f"cc{i:04x}") for i in range(1500)]
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        json=payload("firing", alerts),
        headers=ingest,
        timeout=60,
    )
    assert reply.status_code == 202, reply.text[:500]
    assert reply.json()["firing"] == 1500 and reply.json()["skipped"] == []


def test_an_alert_without_a_resource_is_refused(gateway: StackProcess, redis_url: str) -> None:
    ingest = {"X-API-Key": api_key(redis_url, "ingest")}
    bad = alert("firing", "x", "critical", "bb01")
    bad["labels"] = {"alertname": "Orphan"}
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager", json=payload("firing", [bad]), headers=ingest
    )
    assert reply.status_code == 422
    assert "Orphan" in reply.json()["detail"]
    wrong = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager", json={"version": "3"}, headers=ingest
    )
    assert wrong.status_code == 422
    assert reply.json()["title"] == "Invalid request"
    assert reply.json()["errors"][0]["field"] == "alerts[0]"


@pytest.mark.parametrize(
    ("query", "field", "reason"),
    [
        ({"cursor": "zzz"}, "cursor", "not a `next_cursor` returned by this endpoint"),
        ({"cursor": "1:-1"}, "cursor", "not a `next_cursor` returned by this endpoint"),
        (
            {"since": "2026-12-06T10:00:00Z", "until": "2026-12-06T09:00:00Z"},
            "until",
            "must not be before `since`",
        ),
    ],
)
def test_a_bad_anomaly_query_is_a_problem_naming_the_field(
    gateway: StackProcess, redis_url: str, query: dict[str, str], field: str, reason: str
) -> None:
    viewer = {"X-API-Key": api_key(redis_url, "viewer")}
    reply = httpx.get(f"{gateway.url}/anomalies", params=query, headers=viewer)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body = reply.json()
    assert body["title"] == "Invalid request"
    assert body["detail"] == f"{field}: {reason}"
    assert body["errors"] == [{"field": field, "pointer": f"/{field}", "reason": reason}]

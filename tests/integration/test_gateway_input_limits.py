"""What a real gateway refuses at the door: times far from its clock, booleans as values,
invisible characters and oversized labels (422 naming the field, nothing written); alerts judged
one by one; and no key means 401 whatever the body."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from scops.local_redis import free_port
from services.gateway.routes_proxy import ROUTES
from shared.streams import ANOMALIES, all_metric_streams
from tests.support.processes import StackProcess, api_key, service, stack_env

SHARDS = 4


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: they count what they write (one gateway for the module)."""
    return module_redis


@pytest.fixture(scope="module")
def gateway(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    dead = f"http://127.0.0.1:{free_port()}"  # backends are down: nothing is forwarded
    env = stack_env(
        module_redis,
        {
            "SCOPS_METRIC_SHARDS": str(SHARDS),
            "SCOPS_DETECTOR_URL": dead,
            "SCOPS_REMEDIATOR_URL": dead,
            "SCOPS_NOTIFIER_URL": dead,
        },
    )
    logs = tmp_path_factory.mktemp("gateway-limits-logs")
    process = service("gateway", env, logs).start().wait_ready()
    yield process
    process.stop()


@pytest.fixture
def ingest(gateway: StackProcess, redis_url: str) -> dict[str, str]:
    return {"X-API-Key": api_key(redis_url, "ingest")}


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def sample(**overrides: Any) -> dict[str, Any]:
    return {
        "resource_id": "web-1",
        "metric": "cpu_utilization",
        "value": 41.5,
        "timestamp": now().isoformat(),
        **overrides,
    }


def written(client: redis.Redis) -> int:
    return sum(client.xlen(s) for s in [*all_metric_streams(SHARDS), ANOMALIES])


def refused(
    gateway: StackProcess, headers: dict[str, str], samples: list[dict[str, Any]]
) -> dict[str, Any]:
    reply = httpx.post(f"{gateway.url}/v1/metrics", json={"samples": samples}, headers=headers)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = reply.json()
    return problem


FAR: list[tuple[Any, str]] = [
    ("9999-12-31T00:00:00Z", "ahead"),
    ("0001-01-01T00:00:00Z", "behind"),
    # Dates that leave the calendar once converted to UTC (no server error)
    ("0001-01-01T00:00:01.0+00:01", "out of range once converted to UTC"),
    ("9999-12-31T23:00:00-14:00", "out of range once converted to UTC"),
    (0, "behind"),
    (1e11, "seconds since the epoch"),  # not read as milliseconds (1973)
    (timedelta(minutes=10), "ahead"),
    (-timedelta(days=8), "behind"),
]


def test_a_sample_timed_far_from_the_gateways_clock_refuses_the_request_unwritten(
    gateway: StackProcess, ingest: dict[str, str], sync_redis: redis.Redis
) -> None:
    before = written(sync_redis)
    for timestamp, why in FAR:
        if isinstance(timestamp, timedelta):
            timestamp = (now() + timestamp).isoformat()
        problem = refused(gateway, ingest, [sample(), sample(timestamp=timestamp), sample()])
        [error] = problem["errors"]
        assert error["field"] == "samples[1].timestamp", timestamp
        assert error["pointer"] == "/samples/1/timestamp"
        assert why in error["reason"], (timestamp, error)
    assert written(sync_redis) == before


def test_a_local_time_hours_ahead_is_refused_in_hours_saying_a_time_without_zone_is_utc(
    gateway: StackProcess, ingest: dict[str, str]
) -> None:
    """The usual cause of a time a few hours ahead is a local time sent without its zone, not
    milliseconds (those name no date, or one years ahead)."""
    local = (now() + timedelta(hours=2, minutes=7)).replace(tzinfo=None).isoformat()
    [error] = refused(gateway, ingest, [sample(timestamp=local)])["errors"]
    said = re.search(
        r" is 2 h [67] min ahead of the receiving clock; at most 5 minutes ahead ", error["reason"]
    )
    assert said is not None, error["reason"]
    assert "a time without a zone is read as UTC" in error["reason"]
    assert "milliseconds" not in error["reason"]
    [far] = refused(gateway, ingest, [sample(timestamp=1e11)])["errors"]
    assert "days ahead" in far["reason"] and "not milliseconds" in far["reason"]


def test_a_sample_a_little_ahead_or_a_day_old_is_accepted(
    gateway: StackProcess, ingest: dict[str, str]
) -> None:
    samples = [
        sample(timestamp=(now() + timedelta(minutes=4)).isoformat()),
        sample(timestamp=(now() - timedelta(days=1)).timestamp()),
    ]
    reply = httpx.post(f"{gateway.url}/v1/metrics", json={"samples": samples}, headers=ingest)
    assert reply.status_code == 202, reply.text


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"value": True}, "samples[0].value"),
    ({"value": "97"}, "samples[0].value"),
    ({"timestamp": True}, "samples[0].timestamp"),
    ({"resource_id": "web\u200b-1"}, "samples[0].resource_id"),
    ({"resource_id": "web-1\u202egpj"}, "samples[0].resource_id"),
    ({"resource_id": "web-1\nFAKE LOG LINE"}, "samples[0].resource_id"),
    ({"metric": "cpu\u200d"}, "samples[0].metric"),
    ({"labels": {"service": "nginx\u202e"}}, "samples[0].labels.service"),
    ({"labels": {"service": "x" * 1_000_000}}, "samples[0].labels.service"),
    ({"labels": {"bad key": "x"}}, "samples[0].labels.bad key"),
]


def test_booleans_invisible_characters_and_huge_labels_are_refused_unwritten(
    gateway: StackProcess, ingest: dict[str, str], sync_redis: redis.Redis
) -> None:
    before = written(sync_redis)
    for bad, field in INVALID:
        problem = refused(gateway, ingest, [sample(**bad)])
        fields = [e["field"] for e in problem["errors"]]
        assert any(f.startswith(field) for f in fields), (field, fields)
    assert written(sync_redis) == before


def alert(fingerprint: str, **labels: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": "HighCPU", "instance": "web-1", "severity": "high", **labels},
        "annotations": {"summary": "CPU high\u202e on web-1", "value": "97"},
        "startsAt": (now() - timedelta(minutes=5)).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


def _skipped_total(gateway: StackProcess) -> float:
    text = httpx.get(f"{gateway.url}/metrics").text
    found = re.search(r"^scops_alerts_skipped_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_an_invalid_alert_is_skipped_with_its_reason_and_the_rest_accepted(
    gateway: StackProcess, ingest: dict[str, str], sync_redis: redis.Redis
) -> None:
    future = alert("ff04")
    future["startsAt"] = "9999-12-31T00:00:00Z"
    alerts = [
        alert("aa01"),
        alert("bb02", instance="web-2\x01"),
        alert("cc03", team="ops\u202e"),
        future,
        alert("dd05", **{"bad key": "x"}),
    ]
    before = sync_redis.xlen(ANOMALIES)
    skipped_before = _skipped_total(gateway)
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        json={"version": "4", "status": "firing", "alerts": alerts},
        headers=ingest,
    )
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert body["firing"] == 1
    skipped = {s["fingerprint"]: s["reason"] for s in body["skipped"]}
    assert [s["index"] for s in body["skipped"]] == [1, 2, 3, 4]
    assert "labels.instance" in skipped["bb02"] and "U+0001" in skipped["bb02"]
    assert "labels.team" in skipped["cc03"] and "U+202E" in skipped["cc03"]
    assert "startsAt" in skipped["ff04"] and "ahead" in skipped["ff04"]
    assert "check its year" in skipped["ff04"] and "milliseconds" not in skipped["ff04"]
    assert "labels" in skipped["dd05"]
    [(_, fields)] = sync_redis.xrange(ANOMALIES)[before:]
    event = json.loads(fields[b"data"])
    assert event["resource_id"] == "web-1"
    assert "\u202e" not in event["explanation"]  # free text is cleaned, not refused
    assert _skipped_total(gateway) - skipped_before == 4


def test_an_alert_started_at_a_number_is_refused_naming_it(
    gateway: StackProcess, ingest: dict[str, str], sync_redis: redis.Redis
) -> None:
    """Alertmanager sends RFC 3339 text, as the document says: a number (milliseconds, read
    as such by pydantic alone) is refused, not read."""
    in_millis = alert("ee07")
    in_millis["startsAt"] = int(time.time() * 1000)
    before = sync_redis.xlen(ANOMALIES)
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        json={"version": "4", "status": "firing", "alerts": [alert("aa08"), in_millis]},
        headers=ingest,
    )
    assert reply.status_code == 422, reply.text
    (error,) = reply.json()["errors"]
    assert error["field"] == "alerts[1].startsAt" and "not a number" in error["reason"]
    assert sync_redis.xlen(ANOMALIES) == before


def test_a_notification_whose_alerts_are_all_invalid_is_refused_with_the_reasons(
    gateway: StackProcess, ingest: dict[str, str], sync_redis: redis.Redis
) -> None:
    before = sync_redis.xlen(ANOMALIES)
    reply = httpx.post(
        f"{gateway.url}/v1/alerts/alertmanager",
        json={"version": "4", "status": "firing", "alerts": [alert("ee06", instance="a\x00")]},
        headers=ingest,
    )
    assert reply.status_code == 422
    assert "alerts[0]" in reply.json()["detail"]
    assert sync_redis.xlen(ANOMALIES) == before


MALFORMED = b'{"samples": [ this is not JSON'


def _routes_with_a_body() -> list[tuple[str, str]]:
    own = [
        ("POST", "/v1/metrics"),
        ("POST", "/v1/alerts/alertmanager"),
        ("POST", "/chatops/query"),
    ]
    proxied = [
        (r.method, r.path.replace("{", "x").replace("}", ""))
        for r in ROUTES
        if r.example is not None
    ]
    return own + proxied


# Bodies FastAPI cannot read, each refused on its own path before any dependency runs:
# JSON cut short (a validation error), nested past the reader's recursion limit and bytes
# that are not UTF-8 (both an HTTPException).
UNREADABLE = {"cut short": MALFORMED, "nested": b"[" * 5000 + b"]" * 5000, "not utf-8": b"\xff{"}


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_without_a_valid_key_a_malformed_body_is_401_not_400(
    gateway: StackProcess, body: bytes
) -> None:
    failures = []
    for method, path in _routes_with_a_body():
        for headers in ({}, {"X-API-Key": "scops_not_a_key"}, {"Authorization": "Bearer nope"}):
            reply = httpx.request(
                method,
                f"{gateway.url}{path}",
                content=body,
                headers={**headers, "content-type": "application/json"},
            )
            if (
                reply.status_code != 401
                or reply.headers["content-type"] != "application/problem+json"
                or reply.headers.get("www-authenticate") != "Bearer"
            ):
                failures.append(f"{method} {path} {headers}: {reply.status_code} {reply.text}")
    assert failures == []


@pytest.mark.parametrize("body", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_with_a_valid_key_a_malformed_body_is_400_and_a_wrong_role_403(
    gateway: StackProcess, redis_url: str, body: bytes
) -> None:
    def post(path: str, role: str) -> int:
        key = api_key(redis_url, role)
        return httpx.post(
            f"{gateway.url}{path}",
            content=body,
            headers={"Authorization": f"Bearer {key}", "content-type": "application/json"},
        ).status_code

    for path, role, other in [
        ("/v1/metrics", "ingest", "viewer"),
        ("/v1/alerts/alertmanager", "ingest", "viewer"),
        ("/chatops/query", "viewer", "ingest"),
    ]:
        assert post(path, role) == 400, path
        assert post(path, other) == 403, path

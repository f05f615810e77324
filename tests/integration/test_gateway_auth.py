"""Who may do what at the gateway: every endpoint x every role, revoked keys, rate limits, body
limits, backends that are down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from scops.local_redis import free_port
from services.gateway.api_keys import GRANTS, KeyStore, Role
from services.gateway.routes_proxy import ROUTES
from tests.support.processes import StackProcess, api_key, service, stack_env

ROLES = ["viewer", "operator", "admin", "ingest"]
NOW = time.time()  # samples and alerts must be timed near the gateway's clock
OWN_ROUTES: list[tuple[str, str, Role, dict[str, Any] | None]] = [
    (
        "POST",
        "/v1/metrics",
        Role.INGEST,
        {"samples": [{"resource_id": "a", "metric": "cpu", "value": 1, "timestamp": NOW}]},
    ),
    (
        "POST",
        "/v1/alerts/alertmanager",
        Role.INGEST,
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "X", "instance": "a"},
                    "startsAt": datetime.fromtimestamp(NOW, UTC).isoformat(),
                }
            ],
        },
    ),
    ("GET", "/anomalies", Role.VIEWER, None),
    ("GET", "/anomalies/some-id", Role.VIEWER, None),
    ("POST", "/chatops/query", Role.VIEWER, {"query": "help"}),
    ("GET", "/chatops/history", Role.VIEWER, None),
    ("POST", "/chatops/clear", Role.VIEWER, None),
]


def _cases() -> list[tuple[str, str, Role, dict[str, Any] | None]]:
    cases = list(OWN_ROUTES)
    for route in ROUTES:
        path = route.path.replace("{", "x").replace("}", "")
        body = route.example if route.example is not None else None
        cases.append((route.method, path, route.role, body))
    return cases


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: each makes its own keys (one gateway for the module)."""
    return module_redis


@pytest.fixture(scope="module")
def env(module_redis: str) -> dict[str, str]:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: backends are down
    return stack_env(
        module_redis,
        {
            "SCOPS_DETECTOR_URL": dead,
            "SCOPS_REMEDIATOR_URL": dead,
            "SCOPS_NOTIFIER_URL": dead,
            "SCOPS_INGEST_RATE_PER_MIN": "1000",
        },
    )


@pytest.fixture(scope="module")
def gateway(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackProcess]:
    logs = tmp_path_factory.mktemp("gateway-auth-logs")
    process = service("gateway", env, logs).start().wait_ready()
    yield process
    process.stop()


def test_every_endpoint_answers_each_role_as_documented(
    gateway: StackProcess, redis_url: str
) -> None:
    keys = {role: api_key(redis_url, role) for role in ROLES}
    failures = []
    with httpx.Client(base_url=str(gateway.url), timeout=10) as client:
        for method, path, needed, body in _cases():
            for who in [None, *ROLES]:
                headers = {"X-API-Key": keys[who]} if who else {}
                reply = client.request(method, path, json=body, headers=headers)
                if who is None:
                    expected = "401"
                elif needed in GRANTS[Role(who)]:
                    expected = "allowed"
                else:
                    expected = "403"
                got = str(reply.status_code)
                ok = got == expected or (
                    expected == "allowed" and reply.status_code not in (401, 403)
                )
                if not ok:
                    failures.append(f"{method} {path} as {who}: {got}, expected {expected}")
                elif got == "403":  # says who may, in words a person reads
                    article = "an" if who in ("admin", "ingest", "operator") else "a"
                    said = f"{article} {who} key may not do this: it needs {needed}"
                    if reply.json()["detail"] != said:
                        failures.append(f"{method} {path} as {who}: {reply.json()['detail']}")
    assert failures == []
    assert not any(token in gateway.log_text() for token in keys.values())


def test_slack_endpoints_take_no_api_key_only_a_signature(
    gateway: StackProcess, redis_url: str
) -> None:
    admin = {"X-API-Key": api_key(redis_url, "admin")}
    for path in ("/slack/commands", "/slack/interactions"):
        for headers in ({}, admin):
            reply = httpx.post(f"{gateway.url}{path}", content=b"text=status", headers=headers)
            assert reply.status_code == 401, (path, headers, reply.text)


def test_allowed_calls_to_a_down_backend_are_502_problems(
    gateway: StackProcess, redis_url: str
) -> None:
    key = api_key(redis_url, "viewer")
    reply = httpx.get(f"{gateway.url}/anomaly/status", headers={"X-API-Key": key})
    assert reply.status_code == 502
    assert reply.headers["content-type"] == "application/problem+json"
    assert "detector" in reply.json()["detail"]


def test_bearer_tokens_and_revocation(gateway: StackProcess, redis_url: str) -> None:
    token = api_key(redis_url, "viewer")
    url = f"{gateway.url}/anomalies"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert asyncio.run(_revoke(redis_url, token.split("_")[1]))
    assert httpx.get(url, headers={"X-API-Key": token}).status_code == 401
    assert httpx.get(url, headers={"X-API-Key": token[:-2] + "xx"}).status_code == 401


async def _revoke(redis_url: str, key_id: str) -> bool:
    redis = Redis.from_url(redis_url)
    try:
        return await KeyStore(redis).revoke(key_id) is not None
    finally:
        await redis.aclose()


def test_ingest_is_rate_limited_per_key(redis_url: str, log_dir: Path) -> None:
    env = stack_env(redis_url, {"SCOPS_INGEST_RATE_PER_MIN": "3"})
    gateway = service("gateway", env, log_dir).start().wait_ready()
    try:
        first, second = api_key(redis_url, "ingest"), api_key(redis_url, "ingest")
        viewer = api_key(redis_url, "viewer")
        body = {"samples": [{"resource_id": "a", "metric": "cpu", "value": 1, "timestamp": NOW}]}
        # Refused requests spend nobody's budget: the first key's id with a wrong secret, a
        # key whose role may not ingest.
        wrong_secret = first[:-4] + ("aaaa" if not first.endswith("aaaa") else "bbbb")
        for refused, status in [(wrong_secret, 401)] * 4 + [(viewer, 403)] * 4:
            reply = httpx.post(
                f"{gateway.url}/v1/metrics", json=body, headers={"X-API-Key": refused}
            )
            assert reply.status_code == status
        codes = [
            httpx.post(f"{gateway.url}/v1/metrics", json=body, headers={"X-API-Key": first})
            for _ in range(4)
        ]
        assert [c.status_code for c in codes] == [202, 202, 202, 429]
        assert 1 <= int(codes[3].headers["retry-after"]) <= 61
        assert codes[3].headers["content-type"] == "application/problem+json"
        other = httpx.post(f"{gateway.url}/v1/metrics", json=body, headers={"X-API-Key": second})
        assert other.status_code == 202
    finally:
        gateway.stop()


def test_bodies_over_the_limit_are_refused_unread(redis_url: str, log_dir: Path) -> None:
    env = stack_env(redis_url, {"SCOPS_MAX_BODY_BYTES": "2048"})
    gateway = service("gateway", env, log_dir).start().wait_ready()
    try:
        key = api_key(redis_url, "ingest")
        big = b'{"samples": [' + b" " * 4096 + b"]}"
        reply = httpx.post(
            f"{gateway.url}/v1/metrics",
            content=big,
            headers={"X-API-Key": key, "content-type": "application/json"},
        )
        assert reply.status_code == 413
        assert reply.json()["detail"].startswith("body:")
    finally:
        gateway.stop()

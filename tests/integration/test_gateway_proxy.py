"""Calls proxied by the gateway to a real remediator: the caller's identity comes from the key,
never from the body, and the backend's answer comes back as it is."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env


@pytest.fixture
def redis_url(module_redis: str) -> str:
    """Not emptied between tests: one gateway and remediator serve the module (only one test
    changes what the remediator holds, and it undoes it)."""
    return module_redis


@pytest.fixture(scope="module")
def gateway(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    env = stack_env(module_redis)
    logs = tmp_path_factory.mktemp("gateway-proxy-logs")
    remediator = service("remediator", env, logs).start()
    gateway = service("gateway", env, logs).start()
    try:
        remediator.wait_ready()
        yield gateway.wait_ready()
    finally:
        gateway.stop()
        remediator.stop()


def test_who_acted_is_the_key_not_what_the_body_claims(
    gateway: StackProcess, redis_url: str
) -> None:
    operator = {"X-API-Key": api_key(redis_url, "operator", name="ana")}
    admin = {"X-API-Key": api_key(redis_url, "admin", name="root")}
    reply = httpx.post(
        f"{gateway.url}/remediation/maintenance",
        json={"target_pattern": "web-*", "duration": "1h", "reason": "patching", "by": "mallory"},
        headers=operator,
    )
    assert reply.status_code == 201, reply.text
    window = reply.json()
    log = httpx.get(f"{gateway.url}/remediation/admin-log", headers=admin)
    assert log.status_code == 200, log.text
    text = log.text
    assert "mallory" not in text
    assert "ana (key " in text

    listed = httpx.get(f"{gateway.url}/remediation/maintenance", headers=operator).json()
    assert [w["target_pattern"] for w in listed] == ["web-*"]
    ended = httpx.delete(f"{gateway.url}/remediation/maintenance/{window['id']}", headers=operator)
    assert ended.status_code in (200, 204), ended.text
    assert httpx.get(f"{gateway.url}/remediation/maintenance", headers=operator).json() == []
    entries = httpx.get(f"{gateway.url}/remediation/admin-log", headers=admin).json()
    removed = [e for e in entries if e.get("kind") == "maintenance_removed"]
    assert len(removed) == 1 and removed[0]["by"].startswith("ana (key "), removed


def test_backend_validation_errors_come_back_as_problems(
    gateway: StackProcess, redis_url: str
) -> None:
    operator = {"X-API-Key": api_key(redis_url, "operator")}
    reply = httpx.post(
        f"{gateway.url}/remediation/maintenance", json={"reason": "no pattern"}, headers=operator
    )
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert "target_pattern" in reply.json()["detail"]


@pytest.mark.parametrize("name", ["x%09", "%0Ax", "x%0D", "%09"])
def test_a_path_parameter_is_forwarded_as_sent(
    gateway: StackProcess, redis_url: str, name: str
) -> None:
    """A tab, line feed or carriage return in a path parameter reaches the backend: dropped on
    the way (as URL parsers drop them), ``x%09`` would act on the rule ``x``, and ``%09`` alone
    would meet no route (404)."""
    admin = {"X-API-Key": api_key(redis_url, "admin")}
    reply = httpx.post(f"{gateway.url}/rules/{name}/auto-shadow/reset", json={}, headers=admin)
    assert reply.status_code == 422, reply.text
    assert reply.json()["errors"][0]["field"] == "rule"


@pytest.mark.parametrize("sent", [{}, {"content": b"null"}], ids=["no body", "null"])
@pytest.mark.parametrize(
    "path", ["/rules/reload", "/remediation/breaker/reset", "/rules/cpu-critical/auto-shadow/reset"]
)
def test_a_body_the_service_may_go_without_may_be_left_out(
    gateway: StackProcess, redis_url: str, path: str, sent: dict[str, bytes]
) -> None:
    """The remediator reads these requests without a body (or with ``null``) as its defaults,
    and the gateway's document says so: the gateway forwards them, naming the key as who
    acted, rather than asking for a body."""
    admin = {
        "X-API-Key": api_key(redis_url, "admin", name="root"),
        "Content-Type": "application/json",
    }
    reply = httpx.post(f"{gateway.url}{path}", headers=admin, **sent)  # type: ignore[arg-type]
    assert reply.status_code == 200, reply.text
    if path == "/rules/reload":
        entries = httpx.get(f"{gateway.url}/remediation/admin-log", headers=admin).json()
        assert entries[0]["by"].startswith("root (key "), entries[0]


def test_resetting_a_rule_nobody_has_is_a_404_naming_the_rules(
    gateway: StackProcess, redis_url: str
) -> None:
    """A misspelt rule is not answered "was not in shadow mode" (as if it were fine) and
    leaves no admin-log entry."""
    admin = {"X-API-Key": api_key(redis_url, "admin")}
    before = httpx.get(f"{gateway.url}/remediation/admin-log", headers=admin).json()
    reply = httpx.post(f"{gateway.url}/rules/cpu-critcal/auto-shadow/reset", headers=admin)
    assert reply.status_code == 404, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["detail"].startswith("no rule is called cpu-critcal (the rules: ")
    assert "cpu-critical" in reply.json()["detail"]
    after = httpx.get(f"{gateway.url}/remediation/admin-log", headers=admin).json()
    assert after == before

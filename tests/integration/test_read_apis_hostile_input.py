"""The read endpoints of the remediator, the notifier and the history service under hostile
query and path parameters, directly and through the gateway: real processes on loopback, a real
Redis, the history on a throwaway PostgreSQL database. Each test asserts what a user would
notice: a filter that is not applied, a page from outside the range asked for, one incident's
address answering the whole list, an id spelled another way finding nothing."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
import redis

from services.notifier import redis_keys as notifier_keys
from services.notifier.core.alerts import MessageKind
from services.notifier.history import DeliveryRecord, DeliveryStatus
from services.remediator.stores.audit import RecordPublisher
from shared.events import RemediationStatus, utcnow
from tests.integration.incident_history.running import history_env, history_process, publish
from tests.support.incident_story import opener, record, whole_incident
from tests.support.postgres_admin import ADMIN_URL, admin
from tests.support.processes import StackProcess, api_key, service
from tests.support.waiting import wait_for

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Stack:
    urls: dict[str, str]
    keys: dict[str, str]
    redis_url: str
    history: StackProcess

    def get(self, name: str, path: str, params: Any = None, role: str = "viewer") -> httpx.Response:
        headers = {"X-API-Key": self.keys[role]} if name == "gateway" else {}
        return httpx.get(self.urls[name] + path, params=params, headers=headers, timeout=20)

    def raw_get(self, name: str, target: str) -> tuple[int, dict[str, str], bytes]:
        """A GET sent byte for byte (httpx would resolve ``.`` and ``..`` before sending)."""
        host, port = self.urls[name].removeprefix("http://").split(":")
        request = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
        if name == "gateway":
            request += f"X-API-Key: {self.keys['viewer']}\r\n".encode()
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(request + b"\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])
        }
        return int(lines[0].split(" ")[1]), headers, body


@pytest.fixture(scope="module")
def stack(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    try:
        asyncio.run(admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.skip(f"no PostgreSQL answers at {ADMIN_URL}: {type(exc).__name__}: {exc}")
    name = f"scops_read_hostile_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    logs: Path = tmp_path_factory.mktemp("read-hostile-logs")
    env = history_env(module_redis, f"{base}/{name}")
    env["SCOPS_HISTORY_URL"] = f"http://127.0.0.1:{env['SCOPS_HISTORY_PORT']}"
    history = history_process(env, logs)
    processes = [history] + [service(n, env, logs) for n in ("remediator", "notifier", "gateway")]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready(90)
        keys = {"viewer": api_key(module_redis, "viewer", "read-hostile-viewer")}
        urls = {p.name: str(p.url) for p in processes}
        run = Stack(urls, keys, module_redis, history)
        # One incident in the history, so that a list answered in place of one item shows.
        publish(module_redis, whole_incident("listed-1", "cpu_utilization", utcnow()))
        wait_for(
            history,
            lambda: len(run.get("history", "/incidents").json()["items"]) == 1,
            30,
            "the history to hold the incident",
        )
        yield run
    finally:
        for process in processes:
            process.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def remediator_records(stack: Stack, resource: str) -> str:
    """Two records (blocked, then succeeded) of one anomaly on ``resource``, written as the
    remediator writes them (audit stream and remediations stream); the anomaly id."""
    client = redis.Redis.from_url(stack.redis_url)
    try:
        about = opener(resource, "cpu_utilization", utcnow() - timedelta(minutes=5))
        RecordPublisher(client, maxlen=10_000, audit_maxlen=10_000).publish_many(
            [
                record(about, RemediationStatus.BLOCKED, 1, blocked_by="cooldown"),
                record(about, RemediationStatus.SUCCEEDED, 2),
            ]
        )
    finally:
        client.close()
    return str(about.event_id)


def statuses(reply: httpx.Response) -> list[str]:
    assert reply.status_code == 200, reply.text
    body = reply.json()
    return [item["status"] for item in (body["items"] if isinstance(body, dict) else body)]


def assert_problem_naming(reply: httpx.Response, field: str) -> None:
    assert reply.status_code == 422, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == PROBLEM
    assert field in [e["field"] for e in reply.json().get("errors", [])], reply.text


# -- 1. a path parameter of "." or ".." reaches another route of the backend -----------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/incidents/%2e", "incident_id"),
        ("/incidents/%2e%2e", "incident_id"),
        ("/remediation/approvals/%2e", "approval_id"),
        ("/remediation/approvals/%2e%2e", "approval_id"),
    ],
)
def test_a_dot_segment_as_an_id_through_the_gateway_is_refused_as_the_service_refuses_it(
    stack: Stack, path: str, field: str
) -> None:
    backend = "history" if path.startswith("/incidents") else "remediator"
    direct, _, direct_body = stack.raw_get(backend, path)
    assert direct == 422 and field.encode() in direct_body  # the service itself refuses it
    status, headers, body = stack.raw_get("gateway", path)
    assert b"listed-1" not in body, f"{path} answered the list: {body[:300]!r}"
    # Today /incidents/. answers 200 with the whole incident list (and /remediation/approvals/.
    # the pending approvals): httpx resolves the dot segment the gateway forwards as is.
    assert status == 422, (status, body[:300])
    assert headers["content-type"] == PROBLEM
    assert field.encode() in body


# -- 2. the remediator's audit log: a cursor lifts `until` -----------------------------------


def test_a_cursor_does_not_lift_until_on_the_remediation_audit(stack: Stack) -> None:
    remediator_records(stack, "until-cursor-1")
    before = "2020-01-01T00:00:00Z"  # before every record
    assert statuses(stack.get("remediator", "/remediation/actions", {"until": before})) == []
    # A cursor newer than the records (a tampered one, or one kept from a page read without
    # `until`): the page must still hold nothing stored at or after `until`.
    for name in ("remediator", "gateway"):
        reply = stack.get(
            name,
            "/remediation/actions",
            {"until": before, "cursor": "99999999999999-0", "resource_id": "until-cursor-1"},
        )
        assert statuses(reply) == [], f"{name}: records after until={before}: {reply.text[:300]}"


# -- 3. the remediator's audit log: a status no record can have finds "nothing" --------------


@pytest.mark.parametrize("value", ["BLOCKED", "blocked ", "bogus"])
def test_an_audit_status_that_is_no_status_is_refused_naming_it(stack: Stack, value: str) -> None:
    remediator_records(stack, "status-typo-1")
    # The history's /audit refuses it (422 naming status); the remediator answers an empty page,
    # which reads as "nothing was blocked".
    assert_problem_naming(stack.get("history", "/audit", {"status": value}), "status")
    for name in ("remediator", "gateway"):
        reply = stack.get(name, "/remediation/actions", {"status": value})
        assert_problem_naming(reply, "status")


# -- 4. anomaly_id: another spelling of the same UUID finds nothing, garbage is a 200 ---------


def _audit_of(stack: Stack, service_name: str, anomaly_id: str) -> httpx.Response:
    if service_name == "history":
        return stack.get("history", "/audit", {"anomaly_id": anomaly_id})
    return stack.get("remediator", "/remediation/actions", {"anomaly_id": anomaly_id})


@pytest.mark.parametrize("service_name", ["remediator", "history"])
@pytest.mark.parametrize("spelling", ["upper", "hex"])
def test_an_anomaly_id_spelled_another_way_finds_the_same_records(
    stack: Stack, service_name: str, spelling: str
) -> None:
    anomaly_id = remediator_records(stack, f"spelling-{service_name}-{spelling}")
    wait_for(
        stack.history,
        lambda: len(statuses(_audit_of(stack, "history", anomaly_id))) == 2,
        30,
        "the history to read the records",
    )
    canonical = statuses(_audit_of(stack, service_name, anomaly_id))
    assert sorted(canonical) == ["blocked", "succeeded"]
    other = anomaly_id.upper() if spelling == "upper" else uuid.UUID(anomaly_id).hex
    # GET /incidents/{id} takes either spelling (a UUID); the filter compares text.
    assert stack.get("history", f"/incidents/{other}").status_code == 200
    reply = _audit_of(stack, service_name, other)
    if reply.status_code == 200:
        assert sorted(statuses(reply)) == sorted(canonical), f"{other}: {reply.text[:200]}"
    else:
        assert_problem_naming(reply, "anomaly_id")


@pytest.mark.parametrize("service_name", ["remediator", "history"])
def test_an_anomaly_id_that_is_no_uuid_is_refused_naming_it(
    stack: Stack, service_name: str
) -> None:
    assert_problem_naming(_audit_of(stack, service_name, "not-a-uuid"), "anomaly_id")


# -- 5. a filter given twice: all but the last silently dropped ------------------------------


def _deliveries(stack: Stack, resource: str) -> None:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        for status in (DeliveryStatus.DELIVERED, DeliveryStatus.OUTBOX):
            client.lpush(
                notifier_keys.DELIVERIES,
                DeliveryRecord(
                    message_id=uuid.uuid4().hex,
                    receiver="default",
                    channel="outbox" if status == DeliveryStatus.OUTBOX else "slack",
                    kind=MessageKind.ANOMALY,
                    status=status,
                    attempts=1,
                    text=f"{resource} is anomalous",
                    correlation_id="repeat",
                    source_event_ids=[],
                    created_at=utcnow(),
                ).model_dump_json(),
            )
    finally:
        client.close()


@pytest.mark.parametrize("via", ["direct", "gateway"])
@pytest.mark.parametrize("endpoint", ["remediator", "history", "notifier"])
def test_a_filter_given_twice_is_refused_or_applied_whole(
    stack: Stack, via: str, endpoint: str
) -> None:
    resource = f"twice-{endpoint}-{via}"
    if endpoint == "notifier":
        _deliveries(stack, resource)
        path, wanted = "/notifications", ["delivered", "outbox"]
        params: list[tuple[str, str]] = [("status", s) for s in wanted]
    else:
        anomaly_id = remediator_records(stack, resource)
        wanted = ["blocked", "succeeded"]
        params = [("resource_id", resource), *(("status", s) for s in wanted)]
        path = "/remediation/actions" if endpoint == "remediator" else "/audit"
        if endpoint == "history":
            wait_for(
                stack.history,
                lambda: len(statuses(_audit_of(stack, "history", anomaly_id))) == 2,
                30,
                "the history to read the records",
            )
    reply = stack.get(endpoint if via == "direct" else "gateway", path, params)
    if reply.status_code == 422:
        assert_problem_naming(reply, "status")
        return
    # Today: 200 with only the last status' items, the first filter value dropped unsaid.
    found = set(statuses(reply))
    assert found == set(wanted), f"asked for status {wanted}, got {sorted(found)}"


# -- what held (kept as a guard): refused with a problem naming the field, never a 5xx --------


@pytest.mark.parametrize(
    ("name", "path", "params", "field"),
    [
        ("history", "/incidents", {"rule": "\x00"}, "rule"),
        ("history", "/incidents", {"resource_id": "a" * 10_000}, "resource_id"),
        ("history", "/incidents", {"cursor": "eyJhIjoxfQ"}, "cursor"),  # base64 of {"a":1}
        ("history", "/audit", {"cursor": "-1"}, "cursor"),
        ("history", "/audit", {"since": "9999-12-31T23:59:59-00:01"}, "since"),
        ("remediator", "/remediation/actions", {"cursor": "\u0661-0"}, "cursor"),
        ("remediator", "/remediation/actions", {"limit": "99999999999999999999"}, "limit"),
        ("notifier", "/notifications", {"kind": "bogus"}, "kind"),
        ("notifier", "/notifications/dead-letter", {"limit": "-1"}, "limit"),
        # a window ending before it starts: said, not answered with an empty page
        (
            "remediator",
            "/remediation/actions",
            {"since": "2026-12-02", "until": "2026-12-01"},
            "until",
        ),
        ("history", "/audit", {"since": "2026-12-02", "until": "2026-12-01"}, "until"),
    ],
)
@pytest.mark.parametrize("via", ["direct", "gateway"])
def test_hostile_read_parameters_are_problems_naming_the_field(
    stack: Stack, via: str, name: str, path: str, params: dict[str, str], field: str
) -> None:
    assert_problem_naming(stack.get(name if via == "direct" else "gateway", path, params), field)

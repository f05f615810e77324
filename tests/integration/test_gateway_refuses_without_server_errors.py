"""Hostile input through the running stack is refused with a 4xx problem that names what was
wrong and carries the request's correlation id, never a 5xx, and nothing is written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import redis

from services.gateway.slack.signature import sign
from tests.support.processes import StackProcess, api_key, service, stack_env

SIGNING_SECRET = "signing-secret-of-the-refusal-tests-0123456789"
SERVICES = ("remediator", "notifier", "detector", "gateway")


class Gateway:
    def __init__(self, process: StackProcess, keys: dict[str, str]) -> None:
        self.url = str(process.url)
        self.keys = keys

    def call(
        self, method: str, path: str, *, key: str = "operator", **kwargs: Any
    ) -> httpx.Response:
        headers = {"X-API-Key": self.keys[key], **kwargs.pop("headers", {})}
        return httpx.request(method, self.url + path, headers=headers, timeout=20, **kwargs)

    def raw_json(self, path: str, text: str) -> httpx.Response:
        return self.call(
            "POST", path, content=text.encode(), headers={"Content-Type": "application/json"}
        )


@pytest.fixture(scope="module")
def gateway(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    logs: Path = tmp_path_factory.mktemp("refusal-logs")
    env = stack_env(redis_server, {"SCOPS_SLACK_SIGNING_SECRET": SIGNING_SECRET})
    processes = [service(name, env, logs) for name in SERVICES]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.wait_ready(60)
        keys = {role: api_key(redis_server, role, f"refusal-{role}") for role in ("operator",)}
        yield Gateway(processes[-1], keys)
    finally:
        for process in processes:
            process.stop()


def assert_problem(reply: httpx.Response, status: int, detail_starts: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers.get("x-correlation-id"), reply.headers
    body: dict[str, Any] = reply.json()
    assert body["detail"].startswith(detail_starts), body
    return body


ANOMALY = '"resource_id": "web-1", "metric": "cpu_utilization", "severity": "critical"'
NON_FINITE_BODIES = [
    ("/anomaly", '{"resource_id": "web-1", "metric": "cpu_utilization", "value": NaN}', "value"),
    (
        "/anomaly/batch",
        '{"requests": [{"resource_id": "web-1", "metric": "m", "value": Infinity}]}',
        "requests[0].value",
    ),
    ("/remediation/evaluate", "{" + ANOMALY + ', "value": -Infinity}', "value"),
    (
        "/remediation/execute",
        '{"action": "restart_service", "target": "i-0abc123def4567890", '
        '"params": {"service": "nginx", "retries": NaN}, "reason": "stuck"}',
        "params.retries",
    ),
    (
        "/remediation/maintenance",
        '{"target_pattern": "web-*", "duration": 1e400, "reason": "patching"}',
        "duration",
    ),
    (
        "/notifications/silences",
        '{"matchers": {"resource": "web-*"}, "duration_s": NaN}',
        "duration_s",
    ),
    (
        "/notifications/acknowledgements",
        '{"resource_id": "web-1", "metric": "cpu_utilization", "weight": NaN}',
        "weight",
    ),
]


@pytest.mark.parametrize(("path", "text", "field"), NON_FINITE_BODIES)
def test_nan_and_infinity_in_a_forwarded_body_are_refused_naming_the_field(
    gateway: Gateway, path: str, text: str, field: str
) -> None:
    body = assert_problem(gateway.raw_json(path, text), 422, f"{field}: ")
    assert body["errors"][0]["field"] == field
    assert "not" in body["errors"][0]["reason"]


def test_nothing_is_written_by_a_refused_non_finite_body(gateway: Gateway) -> None:
    gateway.raw_json(
        "/remediation/maintenance",
        '{"target_pattern": "nan-*", "duration": "1h", "reason": "x", "weight": NaN}',
    )
    gateway.raw_json(
        "/notifications/silences",
        '{"matchers": {"resource": "nan-*"}, "duration_s": 3600, "weight": Infinity}',
    )
    windows = gateway.call("GET", "/remediation/maintenance").json()
    silences = gateway.call("GET", "/notifications/silences").json()
    assert [w for w in windows if w["target_pattern"] == "nan-*"] == []
    assert [s for s in silences if s["matchers"]["resource"] == "nan-*"] == []


def test_a_forwarded_body_nested_too_deep_is_refused(gateway: Gateway) -> None:
    deep = "[" * 200 + "]" * 200
    text = '{"target_pattern": "web-*", "duration": "1h", "reason": "x", "extra": ' + deep + "}"
    body = assert_problem(gateway.raw_json("/remediation/maintenance", text), 422, "extra[0]")
    assert body["detail"].endswith("nested deeper than 64 levels")
    abyss = "[" * 100_000 + "]" * 100_000
    assert_problem(gateway.raw_json("/anomaly", abyss), 400, "")


@pytest.mark.parametrize(
    "query",
    ["cursor=0-0", "until=0001-01-01T00:00:00Z", "until=1969-12-31T23:59:59Z"],
)
def test_audit_pages_older_than_anything_are_empty(gateway: Gateway, query: str) -> None:
    reply = gateway.call("GET", f"/remediation/actions?{query}")
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=99999999999999999999-0", "cursor"),
        ("cursor=1-18446744073709551616", "cursor"),
        ("until=9999-12-31T23:59:59-14:00", "until"),
        ("since=0001-01-01T00:00:00%2B14:00", "since"),
    ],
)
def test_audit_positions_that_cannot_exist_are_refused(
    gateway: Gateway, query: str, field: str
) -> None:
    assert_problem(gateway.call("GET", f"/remediation/actions?{query}"), 422, f"{field}: ")


def test_a_maintenance_window_longer_than_ten_years_is_refused_naming_the_maximum(
    gateway: Gateway,
) -> None:
    body = {"target_pattern": "web-*", "duration": 1e12, "reason": "forever"}
    reply = gateway.call("POST", "/remediation/maintenance", json=body)
    assert_problem(reply, 422, "duration: a duration is at most 3650d (ten years)")
    late = {"target_pattern": "web-*", "starts_at": "9999-12-31T00:00:00Z", "duration": "2d"}
    reply = gateway.call("POST", "/remediation/maintenance", json={**late, "reason": "late"})
    assert_problem(reply, 422, "duration: ")
    assert gateway.call("GET", "/remediation/maintenance").json() == []


@pytest.mark.parametrize(
    ("times", "field"),
    [
        ({"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2029-12-31T00:00:00Z"}, "ends_at"),
        ({"ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),
        ({"starts_at": "9999-12-31T00:00:00Z", "duration": "2d"}, "duration"),
    ],
)
def test_a_maintenance_window_that_does_not_end_after_it_starts_names_the_field(
    gateway: Gateway, times: dict[str, str], field: str
) -> None:
    body = {"target_pattern": "empty-*", "reason": "empty", **times}
    reply = gateway.call("POST", "/remediation/maintenance", json=body)
    problem = assert_problem(reply, 422, f"{field}: ")
    assert [e["field"] for e in problem.get("errors", [])] == [field], problem
    assert gateway.call("GET", "/remediation/maintenance").json() == []


@pytest.mark.parametrize(
    "times",
    [
        {"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"},
        {"starts_at": "2030-01-01T00:00:00Z", "ends_at": "2029-12-31T00:00:00Z"},
        {"ends_at": "2020-01-01T00:00:00Z"},
    ],
)
def test_a_silence_that_does_not_end_after_it_starts_is_refused(
    gateway: Gateway, times: dict[str, str]
) -> None:
    body = {"matchers": {"resource": "empty-*"}, "comment": "empty", **times}
    reply = gateway.call("POST", "/notifications/silences", json=body)
    assert_problem(reply, 422, "ends_at: must be after starts_at")
    listed = gateway.call("GET", "/notifications/silences").json()
    assert [s for s in listed if s["matchers"]["resource"] == "empty-*"] == []


@pytest.mark.parametrize(
    ("times", "field"),
    [
        ({"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-02T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2020-01-01T00:00:00Z", "duration_s": 3600}, "duration_s"),
    ],
)
def test_a_silence_that_has_already_ended_is_refused(
    gateway: Gateway, times: dict[str, object], field: str
) -> None:
    body = {"matchers": {"resource": "gone-*"}, "comment": "gone", **times}
    reply = gateway.call("POST", "/notifications/silences", json=body)
    assert_problem(reply, 422, f"{field}: the silence would be already over")
    listed = gateway.call("GET", "/notifications/silences").json()
    assert [s for s in listed if s["matchers"]["resource"] == "gone-*"] == []


@pytest.mark.parametrize(
    ("times", "field"),
    [
        ({"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-02T00:00:00Z"}, "ends_at"),
        ({"starts_at": "2020-01-01T00:00:00Z", "duration": "2h"}, "duration"),
    ],
)
def test_a_maintenance_window_that_has_already_ended_is_refused(
    gateway: Gateway, times: dict[str, str], field: str
) -> None:
    body = {"target_pattern": "gone-*", "reason": "gone", **times}
    reply = gateway.call("POST", "/remediation/maintenance", json=body)
    problem = assert_problem(reply, 422, f"{field}: the window would be already over")
    assert [e["field"] for e in problem.get("errors", [])] == [field], problem
    listed = gateway.call("GET", "/remediation/maintenance?include_past=true").json()
    assert [w for w in listed if w["target_pattern"] == "gone-*"] == []


def test_ending_a_silence_that_has_not_started_removes_it(gateway: Gateway) -> None:
    body = {"matchers": {"resource": "later-*"}, "starts_at": "2030-01-01T00:00:00Z"}
    created = gateway.call("POST", "/notifications/silences", json={**body, "duration_s": 3600})
    assert created.status_code == 201, created.text
    silence_id = created.json()["id"]
    ended = gateway.call("DELETE", f"/notifications/silences/{silence_id}")
    assert ended.status_code == 200, ended.text
    assert ended.json()["starts_at"] == ended.json()["ends_at"]  # it never muted anything
    listed = gateway.call("GET", "/notifications/silences").json()
    assert silence_id not in [s["id"] for s in listed]


def test_slack_timestamp_of_a_non_ascii_digit_is_unauthorized(gateway: Gateway) -> None:
    body = b"user_id=U1&text=help"
    reply = httpx.post(
        f"{gateway.url}/slack/commands",
        content=body,
        headers={
            b"Content-Type": b"application/x-www-form-urlencoded",
            b"X-Slack-Request-Timestamp": "\u00b2".encode("latin-1"),  # a digit to isdigit()
            b"X-Slack-Signature": sign(SIGNING_SECRET, "2", body).encode(),
        },
    )
    assert_problem(reply, 401, "Slack request refused: X-Slack-Request-Timestamp is not")
    assert "Traceback" not in reply.text


def test_a_signed_slack_interaction_nested_100000_levels_is_a_bad_request(
    gateway: Gateway,
) -> None:
    body = ("payload=" + quote("[" * 100_000 + "]" * 100_000)).encode()
    timestamp = str(int(time.time()))
    reply = httpx.post(
        f"{gateway.url}/slack/interactions",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(SIGNING_SECRET, timestamp, body),
        },
        timeout=20,
    )
    assert_problem(reply, 400, "Slack request: payload: nested deeper than 64 levels")


def test_a_body_over_the_limit_is_413_with_a_correlation_id(gateway: Gateway) -> None:
    too_big = b"x" * (10 * 1024 * 1024 + 1)
    declared = gateway.call("POST", "/v1/metrics", content=too_big)
    assert_problem(declared, 413, "body: larger than")
    chunks = iter([too_big[: 1 << 20]] * 11)  # no Content-Length: counted while read
    streamed = gateway.call("POST", "/v1/metrics", content=chunks)
    assert_problem(streamed, 413, "body: larger than")
    mine = gateway.call(
        "POST", "/remediation/evaluate", content=too_big, headers={"X-Correlation-ID": "big-1"}
    )
    assert mine.headers["x-correlation-id"] == "big-1"


def test_a_self_test_for_a_nameless_metric_is_refused(gateway: Gateway) -> None:
    reply = gateway.call("POST", "/remediation/test", json={"resource_id": "web-1", "metric": ""})
    assert_problem(reply, 422, "metric: ")

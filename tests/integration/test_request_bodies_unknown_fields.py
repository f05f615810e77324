"""A misspelt field is refused, not ignored: a body member the operation does not define is a
422 naming it, and nothing is done. Ignored, ``{"entry_id": ...}`` resent the 100 oldest dead
letters instead of the one named, and ``{"coment": ...}`` made a silence without its comment.
Real processes, real HTTP, through the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env


@pytest.fixture(scope="module")
def env(module_redis: str) -> dict[str, str]:
    return stack_env(module_redis)


@pytest.fixture(scope="module")
def gateway(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackProcess]:
    logs = tmp_path_factory.mktemp("unknown-fields-logs")
    processes = [service(name, env, logs).start() for name in ("remediator", "notifier", "gateway")]
    try:
        for process in processes:
            process.wait_ready()
        yield processes[-1]
    finally:
        for process in processes:
            process.stop()


def anomaly(**more: Any) -> dict[str, Any]:
    return {
        "resource_id": "uf-1",
        "metric": "cpu_utilization",
        "value": 97.0,
        "severity": "critical",
        "observed_at": datetime.now(UTC).isoformat(),
        **more,
    }


CASES = [
    ("POST", "/notifications/dead-letter/replay", {"entry_id": "1767225600000-0"}, "entry_id"),
    (
        "POST",
        "/notifications/silences",
        {"matchers": {"resource": "uf-1"}, "duration_s": 600, "coment": "deploy"},
        "coment",
    ),
    (
        "POST",
        "/notifications/acknowledgements",
        {"resource_id": "uf-1", "metric": "cpu_utilization", "note": "seen"},
        "note",
    ),
    (
        "POST",
        "/remediation/maintenance",
        {"target_pattern": "uf-*", "duration": "1h", "reason": "patch", "resource": "uf-1"},
        "resource",
    ),
    ("POST", "/remediation/breaker/reset", {"reason": "fixed"}, "reason"),
    ("POST", "/rules/reload", {"file": "/etc/passwd"}, "file"),
    ("POST", "/remediation/evaluate", anomaly(lables={"env": "prod"}), "lables"),
    ("POST", "/remediation/test", {"resource": "uf-1"}, "resource"),
    (
        "POST",
        "/remediation/approvals/0123456789abcdef0123456789abcdef/approve",
        {"comments": "ok"},
        "comments",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"), CASES, ids=[f"{c[1]}:{c[3]}" for c in CASES]
)
def test_a_member_the_operation_does_not_define_is_a_422_naming_it(
    gateway: StackProcess,
    module_redis: str,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    reply = httpx.request(
        method,
        f"{gateway.url}{path}",
        json=body,
        headers={"X-API-Key": api_key(module_redis, "admin")},
    )
    assert reply.status_code == 422, (reply.status_code, reply.text)
    assert reply.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in reply.json()["errors"]] == [field], reply.json()

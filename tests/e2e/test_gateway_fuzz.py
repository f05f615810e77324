"""Property-based fuzzing of the gateway's OpenAPI contract against the real stack: whatever a
client sends, the gateway (and what it proxies to) answers without a server error and within
its documented response schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from scops.local_redis import ensure_redis, free_port
from tests.support.processes import SERVICES, api_key, service, stack_env

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    log_dir: Path = tmp_path_factory.mktemp("fuzz-logs")
    env = stack_env(handle.url)
    for name in ("detector", "remediator", "notifier"):
        env[f"SCOPS_{name.upper()}_URL"] = f"http://127.0.0.1:{env[f'SCOPS_{name.upper()}_PORT']}"
    processes = [service(name, env, log_dir).start() for name in SERVICES]
    try:
        for process in processes:
            process.wait_ready()
        gateway = processes[0]
        schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
        schema.app_key = api_key(handle.url, "admin")  # type: ignore[attr-defined]
        yield schema
    finally:
        for process in processes:
            process.stop()
        redis.Redis.from_url(handle.url).close()
        handle.stop()


schema = schemathesis.pytest.from_fixture("stack_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_server_errors_and_responses_match_the_contract(case: schemathesis.Case) -> None:
    key = case.operation.schema.app_key  # type: ignore[attr-defined]
    case.call_and_validate(
        headers={"X-API-Key": key},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=15,
    )

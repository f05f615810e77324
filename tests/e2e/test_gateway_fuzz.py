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
from hypothesis import HealthCheck, given, settings
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


def test_no_server_errors_and_responses_match_the_contract(stack_schema: Any) -> None:
    key = stack_schema.app_key
    failures: list[str] = []
    operations = [result.ok() for result in stack_schema.get_all_operations()]
    assert len(operations) > 20

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case: Any) -> None:
            case.call_and_validate(
                headers={"X-API-Key": key},
                checks=[not_a_server_error, response_schema_conformance],
                timeout=15,
            )

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as exc:  # collect every failure, report all
            failures.append(f"{operation.label}: {str(exc)[:600]}")
    assert failures == [], "\n\n".join(failures)

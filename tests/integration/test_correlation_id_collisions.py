"""Two callers' different correlation ids never become one.

The gateway keeps the caller's ``X-Correlation-ID`` when it is visible ASCII of at most 128
bytes, or answers with a new one. A longer id is replaced, not cut: two senders whose ids
share their first 128 characters (a tracing system's long, structured ids) would otherwise get
the same id in every log search, each answered an id it never sent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env

PREFIX = "tenant=acme;trace=" + "0" * 110  # 128 characters
assert len(PREFIX) == 128


@pytest.fixture
def gateway(redis_url: str, tmp_path: Path) -> Iterator[StackProcess]:
    process = service("gateway", stack_env(redis_url), tmp_path).start().wait_ready()
    yield process
    process.stop()


def test_two_different_long_correlation_ids_are_not_merged_into_one(
    gateway: StackProcess, redis_url: str
) -> None:
    key = api_key(redis_url, "ingest")
    given = {}
    for sender in ("alice-request-1", "bob-request-2"):
        sent = f"{PREFIX};span={sender}"
        reply = httpx.post(
            f"{gateway.url}/v1/metrics",
            json={
                "samples": [
                    {"resource_id": sender, "metric": "cpu", "value": 1, "timestamp": time.time()}
                ]
            },
            headers={"X-API-Key": key, "X-Correlation-ID": sent},
        )
        assert reply.status_code == 202, reply.text
        given[sent] = reply.json()["correlation_id"]
    ids = list(given.values())
    # Expected: each sender keeps its own id, or gets a fresh one; never a shared one.
    assert ids[0] != ids[1], f"both requests were given the id {ids[0]!r}"

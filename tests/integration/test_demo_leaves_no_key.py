"""`scops demo` leaves no ingest key behind: its key is revoked once the samples are sent, and
also when the demo fails midway (a refused batch, an unreachable gateway)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from scops.demo import DEMO_KEY_NAME, run_incident
from services.gateway.api_keys import ApiKey, KeyStore
from tests.support.processes import StackProcess, service, stack_env


def demo_keys(redis_url: str) -> list[ApiKey]:
    async def read() -> list[ApiKey]:
        client = Redis.from_url(redis_url)
        try:
            return [k for k in await KeyStore(client).all() if k.name == DEMO_KEY_NAME]
        finally:
            await client.aclose()

    return asyncio.run(read())


@pytest.fixture
def gateway(redis_url: str, log_dir: Path) -> Iterator[StackProcess]:
    process = service("gateway", stack_env(redis_url), log_dir).start().wait_ready()
    yield process
    process.stop()


def test_a_demo_run_revokes_its_key_after_sending(gateway: StackProcess, redis_url: str) -> None:
    for _ in range(2):
        # No detector runs here: the samples are accepted, no notification follows.
        assert run_incident(str(gateway.url), redis_url, timeout=0.5) == 1
    keys = demo_keys(redis_url)
    assert len(keys) == 2
    assert all(k.revoked_at is not None for k in keys), keys


def test_a_demo_that_fails_midway_revokes_its_key(redis_url: str, log_dir: Path) -> None:
    env = stack_env(redis_url, {"SCOPS_MAX_BATCH_SAMPLES": "50"})  # the demo sends 100
    process = service("gateway", env, log_dir).start().wait_ready()
    try:
        with pytest.raises(httpx.HTTPStatusError):
            run_incident(str(process.url), redis_url, timeout=0.5)
    finally:
        process.stop()
    with pytest.raises(httpx.ConnectError):  # the gateway is gone
        run_incident(str(process.url), redis_url, timeout=0.5)
    keys = demo_keys(redis_url)
    assert len(keys) == 2
    assert all(k.revoked_at is not None for k in keys), keys


def test_a_demo_whose_spike_raises_no_anomaly_says_so_and_that_a_new_run_uses_new_series(
    gateway: StackProcess, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No detector runs here, as when the series already has an anomaly open (the user's own
    web-1, say): the demo does not blame the logs alone, it says no anomaly came."""
    assert run_incident(str(gateway.url), redis_url, timeout=0.5) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("no anomaly for web-1 cpu_utilization within 0s"), last
    assert "an anomaly already open on that series raises no new one" in last
    assert "run the demo again: each run uses new series (web-1-run2, ...)" in last

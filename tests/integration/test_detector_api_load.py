"""Synchronous scoring through the gateway does not stop detection, and each key has a budget on
the forwarded routes (a smaller one on the costly ones), on a real gateway, detector and Redis.
How long a sample waits for its anomaly under that load is measured by
bench/detector_api_load.py, not asserted here."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scops.local_redis import free_port
from tests.support.processes import StackProcess, api_key, service, stack_env
from tests.support.scoring_load import BatchLoad, anomaly_latencies, large_batch
from tests.support.waiting import wait_for_a_fresh_minute


def _stack(redis_url: str, log_dir: Path, extra: dict[str, str]) -> Iterator[StackProcess]:
    env = stack_env(redis_url, extra)
    detector = service("detector", env, log_dir).start()
    gateway = service("gateway", env, log_dir).start()
    try:
        detector.wait_ready()
        yield gateway.wait_ready()
    finally:
        gateway.stop()
        detector.stop()


@pytest.fixture
def stack(redis_url: str, log_dir: Path) -> Iterator[StackProcess]:
    yield from _stack(redis_url, log_dir, {"SCOPS_PROXY_COSTLY_RATE_PER_MIN": "100000"})


@pytest.fixture
def tight_stack(redis_url: str, log_dir: Path) -> Iterator[StackProcess]:
    budgets = {"SCOPS_PROXY_COSTLY_RATE_PER_MIN": "2", "SCOPS_PROXY_RATE_PER_MIN": "5"}
    yield from _stack(redis_url, log_dir, budgets)


def test_metrics_raise_their_anomalies_while_large_batch_requests_are_scored(
    stack: StackProcess, redis_url: str
) -> None:
    ingest = api_key(redis_url, "ingest")
    viewer = api_key(redis_url, "viewer")
    # Each probe is a fresh series past a hard limit; anomaly_latencies fails unless every one
    # raises its own anomaly event.
    quiet = anomaly_latencies(stack.url or "", redis_url, ingest, probes=3)
    # 40,000 points a request: seconds of scoring each, back to back.
    with BatchLoad(stack.url or "", viewer, clients=2, check=True, series=40) as load:
        time.sleep(1.0)  # both clients have a large request being scored
        loaded = anomaly_latencies(stack.url or "", redis_url, ingest, probes=5)
        busy_during_probes = len(load.answered) < 2 * 5  # requests still being served
    assert len(quiet) == 3
    assert len(loaded) == 5
    assert busy_during_probes
    assert 200 in load.answered, load.answered
    assert set(load.answered) <= {200, 503}, load.answered  # busy: refused, never timed out
    assert load.wrong == []  # every answer scores every point of every series, in order


def test_each_key_has_a_budget_on_forwarded_routes_and_a_smaller_one_on_costly_ones(
    tight_stack: StackProcess, redis_url: str
) -> None:
    url = tight_stack.url or ""
    ana = {"X-API-Key": api_key(redis_url, "viewer", name="ana")}
    bob = {"X-API-Key": api_key(redis_url, "viewer", name="bob")}
    small = {"requests": large_batch(series=1, points=3)["requests"]}
    wait_for_a_fresh_minute()  # the budgets are per clock minute: the test stays in one

    for _ in range(2):
        assert httpx.post(f"{url}/anomaly/batch", json=small, headers=ana).status_code == 200
    refused = httpx.post(f"{url}/anomaly/batch", json=small, headers=ana)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert "2 requests a minute" in refused.json()["detail"]
    # Another key has its own budget.
    assert httpx.post(f"{url}/anomaly/batch", json=small, headers=bob).status_code == 200

    # The costly budget is apart from the others: ana still has 5 ordinary requests.
    for _ in range(5):
        assert httpx.get(f"{url}/anomaly/status", headers=ana).status_code == 200
    limited = httpx.get(f"{url}/anomaly/status", headers=ana)
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers
    # A key without the role is refused as before, and not counted.
    assert httpx.post(f"{url}/anomaly/train", json={}, headers=bob).status_code == 403


@pytest.fixture
def small_detector(redis_url: str, log_dir: Path) -> Iterator[StackProcess]:
    env = stack_env(
        redis_url, {"SCOPS_ANOMALY_MAX_POINTS": "50000", "SCOPS_ANOMALY_API_QUEUE": "0"}
    )
    process = service("detector", env, log_dir).start().wait_ready()
    yield process
    process.stop()


def test_batch_scoring_refuses_what_it_cannot_take_and_says_why(
    small_detector: StackProcess,
) -> None:
    url = f"{small_detector.url}/anomaly/batch"
    invalid = httpx.post(url, json={"requests": [{"resource_id": "web-1", "metric": "cpu"}]})
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert invalid.json()["detail"].startswith("requests[0]")
    malformed = httpx.post(
        url, content=b'{"requests": [', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    too_much = httpx.post(url, json=large_batch(series=60), timeout=30)
    assert too_much.status_code == 413
    assert "at most 50000" in too_much.json()["detail"]

    # One thread, no queue: while a large request is scored, the next is refused at once.
    busy: list[httpx.Response] = []
    first = threading.Thread(
        target=lambda: busy.append(httpx.post(url, json=large_batch(series=50), timeout=60))
    )
    first.start()
    status = f"{small_detector.url}/anomaly/status"
    deadline = time.monotonic() + 20
    while httpx.get(status).json()["api_requests_admitted"] == 0:
        assert time.monotonic() < deadline, "the large request was never admitted"
        time.sleep(0.01)
    refused = httpx.post(url, json=large_batch(series=1, points=3))
    first.join()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert busy[0].status_code == 200
    assert len(busy[0].json()) == 50
    assert httpx.get(status).json()["api_requests_admitted"] == 0
    assert httpx.post(url, json=large_batch(series=1, points=3)).status_code == 200


@pytest.fixture
def impatient_gateways(redis_url: str, log_dir: Path) -> Iterator[tuple[str, str]]:
    """One detector behind two gateways that give up on a backend after 0.3 s: the first on
    ordinary routes only, the second on the costly ones too."""
    env = stack_env(redis_url, {"SCOPS_PROXY_TIMEOUT_S": "0.3"})
    detector = service("detector", env, log_dir).start()
    patient = service("gateway", env, log_dir).start()
    strict_env = env | {
        "SCOPS_GATEWAY_PORT": str(free_port()),
        "SCOPS_PROXY_COSTLY_TIMEOUT_S": "0.3",
    }
    strict = service("gateway", strict_env, log_dir)
    strict.log_path = log_dir / "gateway-strict.log"
    strict.start()
    try:
        detector.wait_ready()
        yield patient.wait_ready().url or "", strict.wait_ready().url or ""
    finally:
        for process in (strict, patient, detector):
            process.stop()


def test_costly_routes_wait_for_the_backend_longer_than_ordinary_ones(
    impatient_gateways: tuple[str, str], redis_url: str
) -> None:
    patient, strict = impatient_gateways
    key = {"X-API-Key": api_key(redis_url, "viewer")}
    body = large_batch(series=40)  # seconds of scoring: far beyond 0.3 s

    began = time.perf_counter()
    scored = httpx.post(f"{patient}/anomaly/batch", json=body, headers=key, timeout=120)
    assert scored.status_code == 200, scored.text
    assert time.perf_counter() - began > 0.3  # answered after the ordinary timeout
    assert len(scored.json()) == 40

    gave_up = httpx.post(f"{strict}/anomaly/batch", json=body, headers=key, timeout=120)
    assert gave_up.status_code == 504
    assert gave_up.headers["content-type"] == "application/problem+json"
    assert gave_up.json()["detail"] == "the detector did not answer in time"

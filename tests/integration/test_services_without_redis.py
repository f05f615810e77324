"""Redis not answering is a moment of unavailability, not a defect: every service answers what
needs it with a 503 problem carrying ``Retry-After`` and the request's correlation id (never a
500), accepts nothing meanwhile, and serves again once Redis is back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from scops.local_redis import ensure_redis, free_port
from tests.support.processes import api_key, service, stack_env

SERVICES = ("gateway", "remediator", "notifier")


def test_a_store_that_stops_answering_is_a_503_to_retry_and_service_resumes(
    tmp_path: Path,
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    store = ensure_redis(url)
    env = stack_env(url, {})
    processes = {name: service(name, env, tmp_path) for name in SERVICES}
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_ready(60)
        key = api_key(url, "admin", "store-down")
        gateway = str(processes["gateway"].url)
        sample = {"resource_id": "web-1", "metric": "cpu", "value": 1.0}

        def ingest() -> httpx.Response:
            body = {"samples": [{**sample, "timestamp": time.time()}]}
            return httpx.post(
                f"{gateway}/v1/metrics",
                json=body,
                headers={"X-API-Key": key, "X-Correlation-ID": "store-down-1"},
                timeout=20,
            )

        assert ingest().status_code == 202
        store.stop()
        answers = {
            "ingest": ingest(),
            "read": httpx.get(f"{gateway}/anomalies", headers={"X-API-Key": key}, timeout=20),
            "remediator": httpx.get(
                f"{processes['remediator'].url}/remediation/status", timeout=20
            ),
            "notifier": httpx.get(f"{processes['notifier'].url}/notifications", timeout=20),
        }
        for what, reply in answers.items():
            assert reply.status_code == 503, (what, reply.status_code, reply.text)
            assert reply.headers["content-type"] == "application/problem+json", what
            assert reply.headers["retry-after"] == "1", what
            assert "Redis" in reply.json()["detail"], what
        assert answers["ingest"].headers["x-correlation-id"] == "store-down-1"

        store = ensure_redis(url)  # the same address, empty: the key is gone with the data
        key = api_key(url, "admin", "store-back")
        deadline = time.monotonic() + 30
        while (reply := ingest()).status_code != 202:
            assert time.monotonic() < deadline, (reply.status_code, reply.text)
            time.sleep(0.2)
    finally:
        for process in processes.values():
            process.stop()
        store.stop()

"""Large synchronous scoring requests as a load, and the time a metric sample takes from the
gateway to its anomaly event while that load runs (used by a test and by bench/)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import httpx
import redis

from shared.streams import ANOMALIES


def large_batch(series: int = 100, points: int = 1000) -> dict[str, Any]:
    """The largest ``POST /anomaly/batch`` the API accepts by default (100 x 1,000 points)."""
    start = datetime.now(UTC) - timedelta(minutes=points + 5)  # times must be recent
    stamps = [(start + timedelta(minutes=i)).isoformat() for i in range(points)]
    return {
        "requests": [
            {
                "resource_id": f"load-{s}",
                "metric": "cpu_utilization",
                "points": [
                    {"timestamp": t, "value": 40.0 + (i * 7 + s) % 11} for i, t in enumerate(stamps)
                ],
            }
            for s in range(series)
        ]
    }


class BatchLoad:
    """``clients`` threads sending large batch scoring requests back to back until stopped."""

    def __init__(
        self, url: str, key: str, clients: int = 2, check: bool = False, series: int = 100
    ) -> None:
        self.url = url
        self.key = key
        self.clients = clients
        self.check = check  # read every answer (a test does; a benchmark leaves it unread)
        self.body = large_batch(series=series)  # 1,000 points per series
        self.answered: list[int] = []  # status codes of the finished requests
        self.seconds: list[float] = []  # duration of each finished request
        self.wrong: list[str] = []  # checked answers not one result per point of every series
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _run(self) -> None:
        with httpx.Client(timeout=60, headers={"X-API-Key": self.key}) as http:
            while not self._stop.is_set():
                began = time.perf_counter()
                reply = http.post(f"{self.url}/anomaly/batch", json=self.body)
                self.seconds.append(time.perf_counter() - began)
                self.answered.append(reply.status_code)
                if self.check and reply.status_code == 200:
                    self._check(reply)

    def _check(self, reply: httpx.Response) -> None:
        asked = [(r["resource_id"], len(r["points"])) for r in self.body["requests"]]
        answered = [(a.get("resource_id"), len(a.get("results", []))) for a in reply.json()]
        if answered != asked:
            self.wrong.append(reply.text[:200])

    def __enter__(self) -> BatchLoad:
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.clients)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def anomaly_latencies(
    gateway: str, redis_url: str, ingest_key: str, probes: int, pause_s: float = 0.3
) -> list[float]:
    """Post one sample of a fresh series past a hard limit (it pages even during warm-up) and
    time it from the request sent to its anomaly event on the stream; ``probes`` times."""
    client = redis.Redis.from_url(redis_url)
    latencies = []
    try:
        with httpx.Client(timeout=30, headers={"X-API-Key": ingest_key}) as http:
            for _ in range(probes):
                last = client.xrevrange(ANOMALIES, count=1)
                position = last[0][0] if last else b"0-0"
                resource = f"probe-{uuid.uuid4().hex[:12]}"
                sample = {
                    "resource_id": resource,
                    "metric": "disk_used_percent",
                    "value": 99.0,
                    "timestamp": datetime.now(UTC).isoformat(),
                }
                sent = time.perf_counter()
                http.post(f"{gateway}/v1/metrics", json={"samples": [sample]}).raise_for_status()
                latencies.append(_wait_for(client, position, resource, sent))
                time.sleep(pause_s)
    finally:
        client.close()
    return latencies


def _wait_for(client: redis.Redis, position: bytes, resource: str, sent: float) -> float:
    while time.perf_counter() - sent < 30:
        reply = client.xread({ANOMALIES: position}, block=1000, count=100)
        for entry_id, fields in reply[0][1] if reply else []:
            position = entry_id
            if json.loads(fields[b"data"]).get("resource_id") == resource:
                return time.perf_counter() - sent
    raise AssertionError(f"no anomaly event for {resource} within 30 s")

"""Ingest benchmark: samples/s accepted by the gateway, gateway -> anomaly latency, and the raw
Redis pipelined XADD rate on the same machine in the same run.

Starts its own Redis, gateway and detector on free loopback ports; prints figures, asserts nothing.
Run: .venv/bin/python bench/ingest.py [--seconds 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis

from scops.keys import create_key
from scops.local_redis import ensure_redis, free_port
from services.detector.config import DetectorSettings
from services.gateway.api_keys import Role


def start_service(
    name: str, env: dict[str, str], logs: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = env[f"SCOPS_{name.upper()}_PORT"]
    log = (logs / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scops", "serve", name],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{name} did not start; see {logs}")


def raw_xadd_rate(url: str, entries: int = 200_000, pipeline: int = 1000) -> float:
    client = redis.Redis.from_url(url)
    payload = {"type": "bench", "data": "x" * 120}
    started = time.perf_counter()
    for _ in range(entries // pipeline):
        pipe = client.pipeline(transaction=False)
        for _ in range(pipeline):
            pipe.xadd("bench:{raw}", payload, maxlen=100_000, approximate=True)
        pipe.execute()
    rate = entries / (time.perf_counter() - started)
    client.delete("bench:{raw}")
    client.close()
    return rate


def make_batch(size: int, seq: int) -> dict[str, Any]:
    ts = datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=seq)  # accepted window
    return {
        "samples": [
            {
                "resource_id": f"host-{i % 500}",
                "metric": "cpu_utilization",
                "value": 40.0 + (i % 7),
                "timestamp": ts.isoformat(),
            }
            for i in range(size)
        ]
    }


async def ingest_rate(
    gateway: str, batch: int, seconds: float, clients: int, key: str
) -> tuple[float, float, float]:
    body = json.dumps(make_batch(batch, 0)).encode()
    latencies: list[float] = []
    accepted = 0
    deadline = time.perf_counter() + seconds

    async def client_loop(http: httpx.AsyncClient) -> None:
        nonlocal accepted
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            reply = await http.post(
                f"{gateway}/v1/metrics", content=body, headers={"content-type": "application/json"}
            )
            latencies.append(time.perf_counter() - t0)
            if reply.status_code == 202:
                accepted += batch

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers={"X-API-Key": key}) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return accepted / elapsed, statistics.median(latencies), latencies[int(len(latencies) * 0.99)]


def anomaly_latency(gateway: str, redis_url: str, key: str, resources: int = 200) -> list[float]:
    """Warm up ``resources`` series, then spike each one and time gateway 202 -> anomaly event."""
    client = redis.Redis.from_url(redis_url)
    start = datetime.now(UTC) - timedelta(hours=1)
    warmup = DetectorSettings().warmup_samples + 10
    with httpx.Client(timeout=30, headers={"X-API-Key": key}) as http:
        for step in range(warmup):
            ts = (start + timedelta(seconds=step)).isoformat()
            samples = [
                {
                    "resource_id": f"lat-{r}",
                    "metric": "cpu",
                    "value": 40 + (r + step) % 5,
                    "timestamp": ts,
                }
                for r in range(resources)
            ]
            http.post(f"{gateway}/v1/metrics", json={"samples": samples}).raise_for_status()
        time.sleep(5.0)  # let the detector drain the warm-up
        last = client.xrevrange("scops:{anomalies}", count=1)
        position = last[0][0] if last else b"0-0"
        results = []
        spike_ts = (start + timedelta(seconds=warmup + 60)).isoformat()
        for r in range(resources):
            sample = {
                "resource_id": f"lat-{r}",
                "metric": "cpu",
                "value": 500.0,
                "timestamp": spike_ts,
            }
            sent = time.perf_counter()  # includes the request itself: acceptance is inside it
            http.post(f"{gateway}/v1/metrics", json={"samples": [sample]}).raise_for_status()
            found = False
            while not found:
                reply = client.xread({"scops:{anomalies}": position}, block=5000, count=10)
                if not reply:
                    break
                for entry_id, fields in reply[0][1]:
                    position = entry_id
                    if json.loads(fields[b"data"])["resource_id"] == f"lat-{r}":
                        found = True
            if found:
                results.append(time.perf_counter() - sent)
    client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    logs = Path(tempfile.mkdtemp(prefix="scops-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
    env.update(
        {
            "SCOPS_REDIS_URL": handle.url,
            "SCOPS_LOG_LEVEL": "WARNING",
            "SCOPS_GATEWAY_PORT": str(free_port()),
            "SCOPS_DETECTOR_PORT": str(free_port()),
            "SCOPS_INGEST_RATE_PER_MIN": "100000000",
        }
    )
    procs = []
    try:
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
        print(f"raw redis pipelined XADD: {raw_xadd_rate(handle.url):,.0f} entries/s")
        gw, gateway = start_service("gateway", env, logs)
        procs.append(gw)
        key = asyncio.run(create_key(handle.url, "bench", Role.INGEST))
        for batch in (100, 1000):
            rate, p50, p99 = asyncio.run(
                ingest_rate(gateway, batch, args.seconds, args.clients, key)
            )
            print(
                f"gateway POST /v1/metrics batch={batch}: {rate:,.0f} samples/s accepted "
                f"(request p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
                f"{args.clients} clients, 1 uvicorn worker)"
            )
        redis.Redis.from_url(handle.url).flushall()
        key = asyncio.run(create_key(handle.url, "bench", Role.INGEST))
        det, _ = start_service("detector", env, logs)
        procs.append(det)
        lat = sorted(anomaly_latency(gateway, handle.url, key))
        if lat:
            median_ms = statistics.median(lat) * 1000
            p99_ms = lat[int(len(lat) * 0.99) - 1] * 1000
            print(
                f"POST /v1/metrics sent -> anomaly event: median {median_ms:.1f} ms, "
                f"p99 {p99_ms:.1f} ms over {len(lat)} anomalies"
            )
        else:
            print("POST /v1/metrics sent -> anomaly event: no anomaly observed")
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        handle.stop()


if __name__ == "__main__":
    main()

"""Remote-write benchmark: samples/s one gateway worker accepts on POST /api/v1/write.

Each request is what Prometheus sends: a snappy-compressed protobuf WriteRequest of
``--batch`` series with one sample each, half gauges and half counters (``*_total``, turned into
rates with the previous point of each series read and written in Redis). Bodies are built
before the clock starts, each with later timestamps than the one before, so every counter
point has a predecessor. Starts its own Redis and gateway on free loopback ports; prints
figures, asserts nothing.

Run: .venv/bin/python bench/remote_write.py [--seconds 5] [--clients 8] [--batch 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cramjam
import httpx

from scops.keys import create_key
from scops.local_redis import ensure_redis, free_port
from services.gateway.api_keys import Role
from services.gateway.remote_write_proto import WriteRequest

HOSTS = 200
HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


def start_gateway(env: dict[str, str], logs: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = (logs / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "scops", "serve", "gateway"], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{env['SCOPS_GATEWAY_PORT']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"gateway did not start; see {logs}")


def bodies(count: int, batch: int) -> list[bytes]:
    """``count`` request bodies a second apart, ending now."""
    now_ms = int(time.time() * 1000)
    built = []
    for step in range(count):
        at = now_ms - (count - step) * 1000
        request = WriteRequest()
        for i in range(batch):
            host = f"host-{i % HOSTS}:9100"
            if i % 2:
                labels = {"__name__": f"http_requests_{i // HOSTS}_total", "instance": host}
                value = float(step * 10 + i)
            else:
                labels = {"__name__": f"node_load_{i // HOSTS}", "instance": host}
                value = 1.0 + (i + step) % 7
            series = request.timeseries.add()
            for name, text in sorted((labels | {"job": "node"}).items()):
                series.labels.add(name=name, value=text)
            series.samples.add(timestamp=at, value=value)
        built.append(bytes(cramjam.snappy.compress_raw(request.SerializeToString())))
    return built


async def rate(
    gateway: str, key: str, prepared: list[bytes], batch: int, seconds: float, clients: int
) -> tuple[float, float, float, dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted = 0
    order = itertools.cycle(prepared)
    deadline = time.perf_counter() + seconds
    headers = {**HEADERS, "Authorization": f"Bearer {key}"}

    async def client_loop(http: httpx.AsyncClient) -> None:
        nonlocal accepted
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            reply = await http.post(f"{gateway}/api/v1/write", content=next(order))
            latencies.append(time.perf_counter() - t0)
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
            if reply.is_success:
                accepted += batch

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    return accepted / elapsed, statistics.median(latencies), p99, statuses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()

    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    logs = Path(tempfile.mkdtemp(prefix="scops-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
    env.update(
        {
            "SCOPS_REDIS_URL": handle.url,
            "SCOPS_LOG_LEVEL": "WARNING",
            "SCOPS_GATEWAY_PORT": str(free_port()),
            "SCOPS_INGEST_RATE_PER_MIN": "100000000",
        }
    )
    proc = None
    try:
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
        prepared = bodies(300, args.batch)
        size = statistics.mean(len(b) for b in prepared)
        proc, gateway = start_gateway(env, logs)
        key = asyncio.run(create_key(handle.url, "bench", Role.INGEST))
        samples_s, p50, p99, statuses = asyncio.run(
            rate(gateway, key, prepared, args.batch, args.seconds, args.clients)
        )
        print(
            f"gateway POST /api/v1/write batch={args.batch} (half counters): "
            f"{samples_s:,.0f} samples/s accepted (request p50 {p50 * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, {size / 1024:.0f} KiB snappy bodies, "
            f"{args.clients} clients, 1 uvicorn worker, answers {statuses})"
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        handle.stop()


if __name__ == "__main__":
    main()

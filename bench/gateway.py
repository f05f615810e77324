"""Gateway benchmark: requests/s and latency (p50, p99) of authenticated POST /v1/metrics
(batches of 100) and POST /anomaly, on 1 and 2 uvicorn workers.

Load comes from a second process on loopback: wrk when installed (Debian's package), else an
httpx client. Starts its own Redis, detector and gateway; prints figures, asserts nothing.
Run: .venv/bin/python bench/gateway.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from scops.keys import create_key
from scops.local_redis import ensure_redis, free_port
from services.gateway.api_keys import Role


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready")


def metrics_body(size: int) -> bytes:
    ts = datetime.now(UTC) - timedelta(hours=1)  # inside the accepted window
    samples = [
        {
            "resource_id": f"host-{i}",
            "metric": "cpu_utilization",
            "value": 40.0 + i % 7,
            "timestamp": (ts + timedelta(seconds=i)).isoformat(),
        }
        for i in range(size)
    ]
    return json.dumps({"samples": samples}).encode()


def with_wrk(url: str, body: bytes, key: str, seconds: float, connections: int) -> str:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    payload = body.decode().replace("\\", "\\\\").replace('"', '\\"')
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = "{payload}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-Key"] = "{key}"\n'
    )
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+\w+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"{float(rps.group(1)) if rps else 0:,.0f} req/s, p50 {p50.group(1) if p50 else '?'}, "
        f"p99 {p99.group(1) if p99 else '?'}" + (f", {non2xx.group(1)} non-2xx" if non2xx else "")
    )


def with_httpx(url: str, body: bytes, key: str, seconds: float, connections: int) -> str:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            await client.post(url, content=body)
            latencies.append(time.perf_counter() - t0)

    async def main() -> None:
        headers = {"X-API-Key": key, "content-type": "application/json"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            await asyncio.gather(*(loop(client) for _ in range(connections)))

    asyncio.run(main())
    latencies.sort()
    return (
        f"{len(latencies) / seconds:,.0f} req/s, p50 {statistics.median(latencies) * 1000:.1f}ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f}ms (httpx client)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    logs = Path(tempfile.mkdtemp(prefix="scops-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
    detector_port, gateway_port = free_port(), free_port()
    env.update(
        {
            "SCOPS_REDIS_URL": handle.url,
            "SCOPS_LOG_LEVEL": "WARNING",
            "SCOPS_DETECTOR_PORT": str(detector_port),
            "SCOPS_DETECTOR_URL": f"http://127.0.0.1:{detector_port}",
            "SCOPS_INGEST_RATE_PER_MIN": "100000000",
        }
    )
    key = asyncio.run(create_key(handle.url, "bench", Role.OPERATOR))
    load = with_wrk if shutil.which("wrk") else with_httpx
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "scops", "serve", "detector"],
                env=env,
                stdout=(logs / "detector.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        wait_ready(f"http://127.0.0.1:{detector_port}")
        print(
            f"machine: {os.cpu_count()} cores; load: {load.__name__}, "
            f"{args.connections} connections, {args.seconds:.0f}s each"
        )
        for workers in (1, 2):
            gateway = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "services.gateway.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(gateway_port),
                    "--workers",
                    str(workers),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=(logs / f"gateway-{workers}.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
            base = f"http://127.0.0.1:{gateway_port}"
            try:
                wait_ready(base)
                metrics = load(
                    f"{base}/v1/metrics", metrics_body(100), key, args.seconds, args.connections
                )
                print(f"{workers} worker(s)  POST /v1/metrics (100 samples): {metrics}")
                anomaly = json.dumps({"resource_id": "web-1", "metric": "cpu", "value": 42.0})
                scored = load(
                    f"{base}/anomaly", anomaly.encode(), key, args.seconds, args.connections
                )
                print(f"{workers} worker(s)  POST /anomaly: {scored}")
            finally:
                gateway.terminate()
                gateway.wait(timeout=30)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        handle.stop()


if __name__ == "__main__":
    main()

"""Detector benchmark: samples scored per second on one core through the streaming path (one
series, and 10,000 series interleaved), memory per series, and the detector process end to end
(read from Redis, score, publish). Prints figures; asserts nothing.

Run: .venv/bin/python bench/detector.py [--series 10000] [--samples 200000]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

from scops.local_redis import ensure_redis, free_port
from services.detector.detection_engine import DetectionEngine
from shared.metric_batches import encode_columns, timestamp_us
from shared.streams import metrics_stream, shard_of

T0 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def values(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [40 + 10 * ((i % 1440) / 1440) + rng.gauss(0, 2) for i in range(n)]


def streaming_rate(series: int, samples: int) -> float:
    """Scoring through the engine (scorer, severity, episodes), as the consumer does."""
    engine = DetectionEngine()
    per = samples // series
    data = values(per, 1)
    stamps = [datetime.fromtimestamp(T0 + 60 * i, UTC) for i in range(per)]
    names = [f"host-{s}" for s in range(series)]
    started = time.perf_counter()
    for i in range(per):
        for name in names:
            engine.step(name, "cpu", stamps[i], data[i], "bench")
    return per * series / (time.perf_counter() - started)


def memory_per_series(series: int) -> tuple[float, float]:
    gc.collect()
    tracemalloc.start()
    engine = DetectionEngine()
    data = values(300, 2)
    stamps = [datetime.fromtimestamp(T0 + 60 * i, UTC) for i in range(300)]
    before = tracemalloc.get_traced_memory()[0]
    for s in range(series):
        name = f"host-{s}"
        for i in range(300):
            engine.step(name, "cpu", stamps[i], data[i], "bench")
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    state = engine.series[("host-0", "cpu")].to_state()
    return used / series, len(json.dumps(state, separators=(",", ":")))


def end_to_end(samples: int, resources: int) -> tuple[float, float, float]:
    """Pre-load the metrics streams, start a detector, time until it has scored everything."""
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    client = redis.Redis.from_url(handle.url)
    per = samples // resources
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pipe = client.pipeline(transaction=False)
    for i in range(per):
        micros = timestamp_us(start + timedelta(minutes=i))
        by_shard: dict[int, list[int]] = {}
        for r in range(resources):
            by_shard.setdefault(shard_of(f"h-{r}", 4), []).append(r)
        for shard, group in by_shard.items():  # as the gateway writes them: columns
            fields = encode_columns(
                [f"h-{r}" for r in group],
                ["cpu"] * len(group),
                [40.0 + (r + i) % 7 for r in group],
                [micros] * len(group),
                None,
            )
            pipe.xadd(metrics_stream(shard), fields)
    pipe.execute()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
    env.update(
        {
            "SCOPS_REDIS_URL": handle.url,
            "SCOPS_DETECTOR_PORT": str(port),
            "SCOPS_LOG_LEVEL": "WARNING",
            "SCOPS_CONSUMER_BATCH": "50",
        }
    )
    log = Path(tempfile.mkdtemp()) / "detector.log"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "scops", "serve", "detector"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/anomaly/status"
    try:
        first: tuple[float, int, float] | None = None  # when scoring was first seen going
        while True:
            try:
                scored = httpx.get(url, timeout=2).json()["samples_scored"]
            except httpx.HTTPError:
                scored = 0
            if scored and first is None:
                first = (time.perf_counter(), scored, _cpu_seconds(proc.pid))
            if scored >= per * resources:
                break
            time.sleep(0.05)
        total = per * resources
        done = time.perf_counter()
        assert first is not None
        steady = (total - first[1]) / max(done - first[0], 1e-9)
        per_cpu = (total - first[1]) / max(_cpu_seconds(proc.pid) - first[2], 1e-9)
        return total / (done - started), steady, per_cpu
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        client.close()
        handle.stop()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def training_time(series: int = 1000, minutes: int = 1440) -> tuple[float, float, int]:
    """A day of one-minute data on ``series`` series (resources x the model's metrics)."""
    from services.detector.config import DetectorSettings
    from services.detector.training import build_training_set, train

    metrics = DetectorSettings().multivariate_metrics
    resources = series // len(metrics)
    rng = random.Random(3)
    samples = [
        (f"h-{r}", m, T0 + 60 * i, 40 + 5 * j + rng.gauss(0, 2))
        for r in range(resources)
        for i in range(minutes)
        for j, m in enumerate(metrics)
    ]
    started = time.perf_counter()
    training = build_training_set(samples, metrics, bucket_s=60, min_metrics=2)
    built = time.perf_counter() - started
    train(training, metrics, random_state=0, threshold=0.999)
    return built, time.perf_counter() - started, len(training.x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--e2e-samples", type=int, default=300_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"streaming path, 1 series: {streaming_rate(1, args.samples):,.0f} samples/s (one core)")
    rate = streaming_rate(args.series, args.samples)
    print(f"streaming path, {args.series:,} series interleaved: {rate:,.0f} samples/s (one core)")
    per_series, state_bytes = memory_per_series(2000)
    print(
        f"memory per series: {per_series / 1024:.1f} KiB in process, "
        f"{state_bytes / 1024:.1f} KiB checkpointed (JSON)"
    )
    built, total, rows = training_time()
    print(
        f"training, a day of 1-minute data on 1,000 series ({rows:,} resource-minutes): "
        f"{total:.1f} s ({built:.1f} s building features)"
    )
    e2e, steady, per_cpu = end_to_end(args.e2e_samples, 1000)
    print(
        f"detector process end to end (Redis read, score, publish): {e2e:,.0f} samples/s "
        f"including start-up, {steady:,.0f} samples/s once scoring, "
        f"{per_cpu:,.0f} per CPU-second of the process"
    )


if __name__ == "__main__":
    main()

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
from services.detector.engine import DetectionEngine
from shared.bus import encode_event
from shared.events import MetricBatch, MetricSample
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


def end_to_end(samples: int, resources: int) -> float:
    """Pre-load the metrics streams, start a detector, time until it has scored everything."""
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    client = redis.Redis.from_url(handle.url)
    per = samples // resources
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pipe = client.pipeline(transaction=False)
    for i in range(per):
        ts = start + timedelta(minutes=i)
        by_shard: dict[int, list[MetricSample]] = {}
        for r in range(resources):
            sample = MetricSample(
                resource_id=f"h-{r}", metric="cpu", value=40 + (r + i) % 7, timestamp=ts
            )
            by_shard.setdefault(shard_of(sample.resource_id, 4), []).append(sample)
        for shard, group in by_shard.items():
            pipe.xadd(metrics_stream(shard), encode_event(MetricBatch(samples=group)))
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
        while True:
            try:
                if httpx.get(url, timeout=2).json()["samples_scored"] >= per * resources:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        return per * resources / (time.perf_counter() - started)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        client.close()
        handle.stop()


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
    train(training, metrics, random_state=0)
    return built, time.perf_counter() - started, len(training.x)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200_000)
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
    e2e = end_to_end(100_000, 1000)
    print(
        f"detector process end to end (Redis read, score, publish; includes start-up): "
        f"{e2e:,.0f} samples/s"
    )


if __name__ == "__main__":
    main()

"""Remediation benchmark: safety decisions per second (the atomic Redis step, round trip
included) and anomaly event -> recorded decision latency through the real path (anomalies
stream -> remediator dispatcher -> Celery -> worker -> remediations stream), in dry-run.

Starts its own Redis, remediator and worker on free loopback ports; prints figures, asserts
nothing. Run: .venv/bin/python bench/remediation.py [--decisions 20000] [--events 300]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

from scops.local_redis import ensure_redis, free_port
from services.remediator.core.safety_policy import SafetyLimits
from services.remediator.stores.safety import SafetyManager, SafetyRequest
from shared.bus import encode_event
from shared.events import AnomalyEvent, RemediationRecord, Severity, decode_event
from shared.streams import ANOMALIES, REMEDIATIONS

LIMITS = SafetyLimits(rate_limit=10, cooldown_s=300, dry_run=False)


def decide(url: str, count: int, worker: int) -> float:
    """``count`` reservations (with release of those granted) on 500 targets; decisions/s."""
    client = redis.Redis.from_url(url)
    safety = SafetyManager(client, LIMITS)
    started = time.perf_counter()
    for n in range(count):
        target = f"i-{(worker * 7919 + n) % 500:017x}"
        request = SafetyRequest("restart_service", target, "web", run_id=f"{worker}-{n}")
        verdict = safety.reserve(request)
        if verdict.reservation:
            safety.release(request, verdict.reservation, "succeeded")
    elapsed = time.perf_counter() - started
    client.close()
    return count / elapsed


def _decide_into(url: str, count: int, worker: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(decide(url, count, worker))


def parallel_decisions(url: str, count: int, processes: int) -> float:
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_decide_into, args=(url, count, w, out)) for w in range(processes)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - started
    rates = [out.get() for _ in procs]
    del rates
    return count * processes / elapsed


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "scops", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ready", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the remediator did not start")


def anomaly(n: int, at: datetime) -> AnomalyEvent:
    resource = f"web-{n}"
    return AnomalyEvent(
        event_id=AnomalyEvent.derive_id(resource, "cpu_utilization", at),
        resource_id=resource,
        metric="cpu_utilization",
        value=97.0,
        observed_at=at,
        score=0.97,
        severity=Severity.CRITICAL,
        expected_low=20,
        expected_high=50,
        model_version="bench",
        explanation="bench",
    )


def latencies(url: str, events: int, gap_s: float) -> list[float]:
    """Publishes anomalies one at a time and times each until its record appears."""
    client = redis.Redis.from_url(url)
    last = "$"
    found: list[float] = []
    base = datetime.now(UTC) - timedelta(hours=1)
    for n in range(events):
        event = anomaly(n, base + timedelta(seconds=n))
        sent = time.perf_counter()
        client.xadd(ANOMALIES, encode_event(event))
        while True:
            reply = client.xread({REMEDIATIONS: last}, block=5000, count=10)
            if not reply:
                raise SystemExit("no record within 5 s; see the logs")
            done = False
            for _stream, entries in reply:
                for entry_id, fields in entries:
                    last = entry_id.decode()
                    record = decode_event(fields[b"type"].decode(), fields[b"data"])
                    if (
                        isinstance(record, RemediationRecord)
                        and record.anomaly_id == event.event_id
                    ):
                        found.append(time.perf_counter() - sent)
                        done = True
            if done:
                break
        time.sleep(gap_s)
    client.close()
    return found


def burst(url: str, events: int) -> tuple[float, float]:
    """Publishes ``events`` anomalies at once; seconds until all are recorded, and rate."""
    client = redis.Redis.from_url(url)
    base = datetime.now(UTC) - timedelta(hours=2)
    wanted = [anomaly(10_000 + n, base + timedelta(seconds=n)) for n in range(events)]
    ids = {e.event_id for e in wanted}
    start_id = client.xadd(REMEDIATIONS, {"type": "bench.marker", "data": "{}"})
    started = time.perf_counter()
    with client.pipeline(transaction=False) as pipe:
        for event in wanted:
            pipe.xadd(ANOMALIES, encode_event(event))
        pipe.execute()
    last = start_id
    while ids:
        reply = client.xread({REMEDIATIONS: last}, block=10_000, count=500)
        if not reply:
            raise SystemExit(f"{len(ids)} anomalies without a record after 10 s")
        for _stream, entries in reply:
            for entry_id, fields in entries:
                last = entry_id
                if fields[b"type"] != b"remediation.record.v1":
                    continue
                record = decode_event(fields[b"type"].decode(), fields[b"data"])
                assert isinstance(record, RemediationRecord)
                ids.discard(record.anomaly_id)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed, events / elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between events")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()

    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    url = handle.url
    logs = Path(tempfile.mkdtemp(prefix="scops-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        rate = decide(url, args.decisions, 0)
        print(f"safety decisions, 1 process:   {rate:,.0f}/s (reserve + release, Lua, round trip)")
        redis.Redis.from_url(url).flushall()
        rate = parallel_decisions(url, args.decisions // 2, args.processes)
        print(f"safety decisions, {args.processes} processes: {rate:,.0f}/s in total")
        redis.Redis.from_url(url).flushall()

        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
        env |= {
            "SCOPS_ENV": "test",
            "SCOPS_REDIS_URL": url,
            "SCOPS_REMEDIATOR_PORT": str(port),
            "SCOPS_LOG_LEVEL": "WARNING",
            "SCOPS_DRY_RUN": "true",
        }
        procs.append(start(["serve", "remediator"], env, logs / "remediator.log"))
        procs.append(
            start(["worker", "--concurrency", str(args.concurrency)], env, logs / "worker.log")
        )
        wait_ready(f"http://127.0.0.1:{port}")
        latencies(url, 20, 0.01)  # warm up: imports, connections, rule loading
        found = latencies(url, args.events, args.gap)
        print(
            f"anomaly event -> recorded decision, {len(found)} events one at a time "
            f"(dry-run, {args.concurrency} worker processes): "
            f"median {statistics.median(found) * 1000:.1f} ms, p99 {pct(found, 0.99) * 1000:.1f} ms"
        )
        elapsed, throughput = burst(url, args.events)
        print(
            f"burst of {args.events} events: all recorded in {elapsed:.2f} s "
            f"({throughput:,.0f} decisions/s)"
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        handle.stop()
        print(f"logs: {logs}")


if __name__ == "__main__":
    main()

"""Remediation benchmark: safety decisions per second (the atomic Redis step, round trip
included), then decisions through the real path (anomalies stream -> remediator dispatcher ->
Celery -> worker -> remediations stream, in dry-run) against a no-op Celery task on the same
Celery settings, measured in the same run, and anomaly event -> recorded decision latency one at
a time and at 10 % of the measured peak.

The machine running it is often busy: next to each rate it prints the CPU seconds each process
spent (workers, the remediator API with its dispatcher, Redis; for the no-op task, the sending
this process does in the dispatcher's place), and the CPU time per task in all of them, the
steadier figure. Redis commands per decision come from ``INFO commandstats``.

Starts its own Redis, remediator and workers on free loopback ports; prints figures, asserts
nothing. Run: .venv/bin/python bench/remediation.py [--decisions 20000] [--events 1000]
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
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis
from celery import Celery

from scops.local_redis import ensure_redis, free_port
from services.remediator.celery_config import create_celery
from services.remediator.config import RemediatorSettings
from services.remediator.core.safety_policy import SafetyLimits
from services.remediator.stores.safety import SafetyManager, SafetyRequest
from shared.bus import encode_event
from shared.events import AnomalyEvent, RemediationRecord, Severity, decode_event
from shared.streams import ANOMALIES, REMEDIATIONS

LIMITS = SafetyLimits(rate_limit=10, cooldown_s=300, dry_run=False)
NOOP_TASK = "bench.noop"
NOOP_QUEUE = "bench-noop"
NOOP_DONE = "bench:noop:done"
SEND_BATCH = 100  # what the dispatcher reads (and so sends) at once by default


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


def wait_ready(url: str, timeout: float = 120) -> None:
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


def new_records(
    client: redis.Redis, after: bytes | str
) -> Iterator[tuple[RemediationRecord, float]]:
    """The remediation records written after ``after`` on the records stream, each with the
    time it was read; exits when none comes for 10 s."""
    last = after
    while True:
        reply = client.xread({REMEDIATIONS: last}, block=10_000, count=500)
        seen = time.perf_counter()
        if not reply:
            raise SystemExit("no remediation record for 10 s; see the logs")
        for _stream, entries in reply:
            for entry_id, fields in entries:
                last = entry_id
                if fields[b"type"] != b"remediation.record.v1":
                    continue
                record = decode_event(fields[b"type"].decode(), fields[b"data"])
                assert isinstance(record, RemediationRecord)
                yield record, seen


def burst(url: str, events: int, offset: int) -> tuple[float, float]:
    """Publishes ``events`` anomalies at once; seconds until all are recorded, and rate."""
    client = redis.Redis.from_url(url)
    base = datetime.now(UTC) - timedelta(hours=2)
    wanted = [anomaly(offset + n, base + timedelta(seconds=n)) for n in range(events)]
    ids = {e.event_id for e in wanted}
    start_id = client.xadd(REMEDIATIONS, {"type": "bench.marker", "data": "{}"})
    started = time.perf_counter()
    with client.pipeline(transaction=False) as pipe:
        for event in wanted:
            pipe.xadd(ANOMALIES, encode_event(event))
        pipe.execute()
    records = new_records(client, start_id)
    while ids:
        ids.discard(next(records)[0].anomaly_id)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed, events / elapsed


def paced(url: str, events: int, rate: float, offset: int) -> list[float]:
    """Publishes ``events`` anomalies at ``rate``/s (open loop: each at its due time, whether
    the earlier ones are recorded or not) and times each until its record appears."""
    import threading

    client = redis.Redis.from_url(url)
    reader = redis.Redis.from_url(url)
    base = datetime.now(UTC) - timedelta(hours=3)
    wanted = [anomaly(offset + n, base + timedelta(seconds=n)) for n in range(events)]
    sent: dict[object, float] = {}
    last = reader.xadd(REMEDIATIONS, {"type": "bench.marker", "data": "{}"})

    def publish() -> None:
        began = time.perf_counter()
        for n, event in enumerate(wanted):
            due = began + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sent[event.event_id] = time.perf_counter()
            client.xadd(ANOMALIES, encode_event(event))

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    found: dict[object, float] = {}
    records = new_records(reader, last)
    while len(found) < events:
        record, seen = next(records)
        if record.anomaly_id in sent and record.anomaly_id not in found:
            found[record.anomaly_id] = seen - sent[record.anomaly_id]
    thread.join()
    client.close()
    reader.close()
    return list(found.values())


# -- the no-op task: the same Celery settings as the remediation workers -------------------


def noop_app(url: str) -> Celery:
    settings = RemediatorSettings(redis_url=url)
    celery = create_celery(settings)
    celery.conf.task_default_queue = NOOP_QUEUE
    celery.conf.task_routes = {NOOP_TASK: {"queue": NOOP_QUEUE}}
    client: list[redis.Redis] = []

    @celery.task(name=NOOP_TASK)  # type: ignore[untyped-decorator]
    def noop() -> None:
        # The least a task can do that the bench can see: count itself done (one round trip;
        # a real decision's record is one too).
        if not client:
            client.append(redis.Redis.from_url(url))  # in the prefork child, after the fork
        client[0].incr(NOOP_DONE)

    return celery


def noop_worker(url: str, concurrency: int) -> None:
    noop_app(url).worker_main(
        [
            "worker",
            "--loglevel=WARNING",
            f"--concurrency={concurrency}",
            f"--queues={NOOP_QUEUE}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def noop_burst(celery: Celery, url: str, count: int) -> tuple[float, float, float]:
    """Sends ``count`` no-op tasks as the dispatcher sends decisions (a read's worth, 100, in
    one publish batch: one pipeline of LPUSHes); seconds until all have run, rate, and the CPU
    seconds this process spent sending them (the dispatcher's share of a decision, counted in
    the remediator API's CPU)."""
    client = redis.Redis.from_url(url)
    client.set(NOOP_DONE, 0)
    started = time.perf_counter()
    sending = time.process_time()
    for first in range(0, count, SEND_BATCH):
        with celery.producer_or_acquire() as producer, producer.batch(max_size=SEND_BATCH):
            for _ in range(min(SEND_BATCH, count - first)):
                celery.send_task(
                    NOOP_TASK, producer=producer, retry=False, declare=[], argsrepr="()"
                )
    sent_cpu_s = time.process_time() - sending
    while int(client.get(NOOP_DONE) or 0) < count:
        if time.perf_counter() - started > 120:
            raise SystemExit("the no-op tasks did not all run within 120 s")
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed, count / elapsed, sent_cpu_s


# -- CPU time of the processes -------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                found.extend(_tree(int(child)))
    except OSError:
        pass
    return found


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants."""
    total = 0.0
    for each in _tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def commands(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k not in ("cmdstat_info",))


class CpuMeter:
    """CPU seconds spent by the named processes (and Redis) between ``start`` and ``stop``."""

    def __init__(self, client: redis.Redis, pids: dict[str, int]) -> None:
        self.client = client
        self.pids = pids

    def read(self) -> dict[str, float]:
        spent = {name: cpu_s(pid) for name, pid in self.pids.items()}
        spent["redis"] = redis_cpu_s(self.client)
        return spent

    def start(self) -> None:
        self.before = self.read()
        self.commands_before = commands(self.client)

    def stop(self) -> tuple[dict[str, float], int]:
        after = self.read()
        spent = {name: after[name] - self.before[name] for name in after}
        return spent, commands(self.client) - self.commands_before


def describe_cpu(spent: dict[str, float], count: int) -> str:
    parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in spent.items())
    total = sum(spent.values())
    return f"CPU s: {parts}; {total * 1e6 / count:,.0f} µs of CPU per task in all"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--events", type=int, default=1000, help="anomalies per burst")
    parser.add_argument("--rounds", type=int, default=3, help="no-op and real bursts, in turn")
    parser.add_argument("--latency-events", type=int, default=300)
    parser.add_argument(
        "--paced-rate",
        type=float,
        help="events/s of the paced latency run (default: 10 %% of the measured peak); a fixed "
        "rate compares latencies between runs whose peaks differ",
    )
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between events")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    parser.add_argument("--noop-worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noop_worker:
        noop_worker(args.noop_worker, args.concurrency)
        return

    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    url = handle.url
    logs = Path(tempfile.mkdtemp(prefix="scops-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if args.decisions:
            rate = decide(url, args.decisions, 0)
            print(
                f"safety decisions, 1 process:   {rate:,.0f}/s (reserve + release, Lua, round trip)"
            )
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
        api = start(["serve", "remediator"], env, logs / "remediator.log")
        worker = start(["worker", "--concurrency", str(args.concurrency)], env, logs / "worker.log")
        noop = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--noop-worker",
                url,
                "--concurrency",
                str(args.concurrency),
            ],
            env=env,
            stdout=(logs / "noop-worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        procs += [api, worker, noop]
        wait_ready(f"http://127.0.0.1:{port}")
        client = redis.Redis.from_url(url)
        celery = noop_app(url)
        noop_burst(celery, url, 50)  # warm up the no-op worker
        latencies(url, 20, 0.01)  # warm up: imports, connections, rule loading

        noop_meter = CpuMeter(client, {"no-op worker": noop.pid})
        real_meter = CpuMeter(client, {"worker": worker.pid, "remediator API": api.pid})
        noop_rates: list[float] = []
        real_rates: list[float] = []
        noop_cpus: list[dict[str, float]] = []
        real_cpus: list[dict[str, float]] = []
        for round_ in range(args.rounds):
            noop_meter.start()
            elapsed, rate, sent_cpu_s = noop_burst(celery, url, args.events)
            noop_spent, _ = noop_meter.stop()
            noop_spent["sender"] = sent_cpu_s
            noop_rates.append(rate)
            noop_cpus.append(noop_spent)
            print(
                f"no-op Celery task, {args.events} sent: all run in {elapsed:.2f} s "
                f"({rate:,.0f} tasks/s); {describe_cpu(noop_spent, args.events)}"
            )
            real_meter.start()
            elapsed, throughput = burst(url, args.events, 10_000 + round_ * args.events)
            real_spent, real_commands = real_meter.stop()
            real_rates.append(throughput)
            real_cpus.append(real_spent)
            print(
                f"burst of {args.events} events: all recorded in {elapsed:.2f} s "
                f"({throughput:,.0f} decisions/s); {describe_cpu(real_spent, args.events)}; "
                f"{real_commands / args.events:.1f} Redis commands per decision"
            )
        noop_rate = statistics.median(noop_rates)
        real_rate = statistics.median(real_rates)
        print(
            f"decisions through real workers: {real_rate:,.0f}/s against {noop_rate:,.0f}/s "
            f"for the no-op task ({args.concurrency} worker processes each, medians of "
            f"{args.rounds} rounds): {real_rate / noop_rate:.0%}"
        )
        real_cpu = [sum(spent.values()) for spent in real_cpus]
        noop_cpu = [sum(spent.values()) for spent in noop_cpus]
        print(
            "CPU per task in every process (sender, workers, Redis), medians of "
            f"{args.rounds} rounds: decision {statistics.median(real_cpu) * 1e6 / args.events:,.0f}"
            f" µs, no-op {statistics.median(noop_cpu) * 1e6 / args.events:,.0f} µs: the no-op's "
            f"is {statistics.median(noop_cpu) / statistics.median(real_cpu):.0%} of a decision's "
            "(steadier than the rates on a busy machine)"
        )
        worker_s = statistics.median(spent["worker"] for spent in real_cpus) / args.events
        noop_s = statistics.median(spent["no-op worker"] for spent in noop_cpus) / args.events
        print(
            f"worker CPU per task, median of {args.rounds} rounds: decision "
            f"{worker_s * 1e6:,.0f} µs, "
            f"no-op {noop_s * 1e6:,.0f} µs: the no-op's CPU is "
            f"{noop_s / worker_s:.0%} of a decision's"
        )
        api_us = statistics.median(spent["remediator API"] for spent in real_cpus) * 1e6
        sender_us = statistics.median(spent["sender"] for spent in noop_cpus) * 1e6
        print(
            f"remediator API CPU per decision (reading, dispatching, counting the records), "
            f"median of {args.rounds} rounds: {api_us / args.events:,.0f} µs; the no-op's "
            f"sending: {sender_us / args.events:,.0f} µs per task"
        )

        found = latencies(url, args.latency_events, args.gap)
        print(
            f"anomaly event -> recorded decision, {len(found)} events one at a time "
            f"(dry-run, {args.concurrency} worker processes): "
            f"median {statistics.median(found) * 1000:.1f} ms, p99 {pct(found, 0.99) * 1000:.1f} ms"
        )
        load = args.paced_rate or real_rate / 10
        found = paced(url, args.latency_events, load, 100_000)
        print(
            f"anomaly event -> recorded decision at {load / real_rate:.0%} of peak "
            f"({load:,.0f} events/s, "
            f"{len(found)} events): p50 {statistics.median(found) * 1000:.1f} ms, "
            f"p99 {pct(found, 0.99) * 1000:.1f} ms"
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

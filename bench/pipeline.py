"""Whole-pipeline benchmark: samples/s accepted by the gateway and scored by the detector, with
the remediator, the notifier and a worker running, on this machine.

Starts Redis (on a free port, unless --redis-url answers), the four services and a worker. Warms
--series series past the detector's warm-up, then pushes for --seconds from --clients clients
with batches of --batch samples, waits until the detector group's lag is zero and nothing is
pending but entries scored and waiting for a checkpoint, and prints: samples accepted/s,
samples scored/s (``ml_predictions_total`` from the first push to drained), Redis' pipelined
XADD rate measured in the same run, the sample -> anomaly latency at 10 % of the peak, the
detector's memory per series, and the CPU seconds each process spent from the first push to
drained (so the figures mean something on a busy machine).

The latency: while another process pushes the other series at 10 % of the peak (the lower of the
accepted and the scored rate: what the whole stack sustains; its clients spread evenly over
their pace, not sending in the same instant), each probe series gets one spike, at a random
point of the background's cycle, from a client that does nothing else (a prepared HTTP/1.1
request on a kept-alive connection: ``PlainPoster``); the time from sending it
until its anomaly is written to the stream, and until a client blocked on the stream (as the
remediator is) reads it, and where that time went (the stream entries' ids give when the
gateway wrote the sample and when the detector wrote the anomaly, in whole milliseconds of
Redis' clock).

Run: .venv/bin/python bench/pipeline.py [--seconds 20] [--detectors 1]
Short run: .venv/bin/python bench/pipeline.py --seconds 5 --series 2000 --probes 40
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import loop_stalls
import redis

from scops.keys import create_key
from scops.local_redis import LocalRedis, ensure_redis, free_port
from scops.processes import detector_shards
from services.detector.config import DetectorSettings
from services.gateway.api_keys import Role
from shared.streams import ANOMALIES, GROUP_DETECTOR, all_metric_streams

SHARDS = 4
VARIANTS = 16  # value sets per block, cycled, so that no series is a constant
TICKS = os.sysconf("SC_CLK_TCK")


# -- processes ---------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    url: str | None = None


PROFILE_DIR: Path | None = None  # --profile: the gateway and detectors run under cProfile
# uvicorn raises SIGTERM again once it has shut down, which would end the process before the
# profile is written: here it returns instead.
PROFILED = """
import cProfile, runpy, signal, sys
signal.raise_signal = lambda _signum: None
sys.argv = ["scops", *sys.argv[1:]]
profile = cProfile.Profile()
profile.enable()
try:
    runpy.run_module("scops", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
finally:
    profile.disable()
    profile.dump_stats({out!r})
"""


STALLS_DIR: Path | None = None  # --stalls: the gateway and detectors run under loop_stalls
PROBED = ("gateway", "detector")


def spawn(name: str, args: list[str], env: dict[str, str], logs: Path, url: str | None) -> Proc:
    log = (logs / f"{name}.log").open("wb")
    command = [sys.executable, "-m", "scops", *args]
    if PROFILE_DIR is not None and name.startswith(PROBED):
        out = PROFILE_DIR / f"{name}.prof"
        command = [sys.executable, "-c", PROFILED.format(out=str(out)), *args]
    elif STALLS_DIR is not None and name.startswith(PROBED):
        bench = str(Path(__file__).resolve().parent)
        wrapper = loop_stalls.WRAPPER.format(bench=bench, out=str(STALLS_DIR / f"{name}.json"))
        command = [sys.executable, "-c", wrapper, *args]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Proc(name, process, url)


def is_ready(url: str) -> bool:
    """Whether the service at ``url`` answers ``/ready`` with 200 (not answering: no)."""
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(procs: list[Proc], logs: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    for proc in procs:
        while proc.url is not None:
            if proc.process.poll() is not None:
                raise SystemExit(f"{proc.name} exited; see {logs}/{proc.name}.log")
            if is_ready(proc.url):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{proc.name} not ready; see {logs}/{proc.name}.log")
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and every live descendant (a worker's pool children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS
        todo += children.get(current, [])
    return total


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def predictions(detectors: list[Proc]) -> float:
    return gauge(detectors, "ml_predictions_total")


def gauge(detectors: list[Proc], name: str) -> float:
    total = 0.0
    for proc in detectors:
        text = httpx.get(f"{proc.url}/metrics", timeout=5).text
        found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        total += float(found.group(1)) if found else 0.0
    return total


def drained(client: redis.Redis, detectors: list[Proc]) -> bool:
    """Every entry read and scored: no lag, and nothing pending but the entries scored and
    waiting for the checkpoint that covers them (acknowledged then, every
    SCOPS_CHECKPOINT_INTERVAL_S; waiting for that would count time spent doing nothing)."""
    pending = 0
    for stream in all_metric_streams(SHARDS):
        for group in client.xinfo_groups(stream):
            if group["name"] != GROUP_DETECTOR.encode():
                continue
            if group.get("lag") is None or group["lag"]:
                return False
            pending += group["pending"]
    return pending == gauge(detectors, "ml_entries_awaiting_checkpoint")


def wait_drained(client: redis.Redis, detectors: list[Proc], timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while not drained(client, detectors):
        if time.monotonic() > deadline:
            raise SystemExit("the detector did not catch up")
        time.sleep(0.05)
    return time.perf_counter()


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


# -- load ----------------------------------------------------------------------------------------


@dataclass
class Block:
    """``size`` series sent together, one timestamp per request, times one second apart."""

    names: list[str]
    start: datetime
    step: int = 0
    templates: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(len(self.names) * 7919 + hash(self.names[0]) % 1000)
        for _ in range(VARIANTS):
            parts = [
                f'{{"resource_id":"{name}","metric":"cpu_utilization",'
                f'"value":{40 + 5 * rng.random() + rng.gauss(0, 1):.3f},"timestamp":"@TS@"}}'
                for name in self.names
            ]
            self.templates.append(('{"samples":[' + ",".join(parts) + "]}").encode())

    def next_body(self) -> bytes:
        at = (self.start + timedelta(seconds=self.step)).isoformat().encode()
        body = self.templates[self.step % VARIANTS].replace(b"@TS@", at)
        self.step += 1
        return body


@dataclass
class Tally:
    accepted: int = 0
    refused: int = 0
    first: float = 0.0


async def push(
    http: httpx.AsyncClient,
    url: str,
    blocks: list[Block],
    until: float,
    tally: Tally,
    pace_s: float = 0.0,
    steps: int | None = None,
) -> None:
    """Send each block's next step in turn until ``until`` (or ``steps`` rounds)."""
    rounds = 0
    while time.perf_counter() < until and (steps is None or rounds < steps):
        for block in blocks:
            sent = time.perf_counter()
            tally.first = tally.first or sent
            reply = await http.post(url, content=block.next_body())
            if reply.status_code == 202:
                tally.accepted += len(block.names)
            else:
                tally.refused += len(block.names)
            if pace_s:
                await asyncio.sleep(max(pace_s - (time.perf_counter() - sent), 0))
        rounds += 1


def client(key: str, clients: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=60,
        limits=httpx.Limits(max_connections=clients + 2),
        headers={"X-API-Key": key, "content-type": "application/json"},
    )


async def load(
    url: str, key: str, lanes: list[list[Block]], seconds: float, pace_s: float = 0.0
) -> Tally:
    tally = Tally()
    until = time.perf_counter() + seconds
    async with client(key, len(lanes)) as http:
        await asyncio.gather(*(push(http, url, lane, until, tally, pace_s) for lane in lanes))
    return tally


def split_lanes(blocks: list[Block], clients: int) -> list[list[Block]]:
    """``blocks`` dealt to at most ``clients`` clients, none left empty."""
    return [lane for lane in (blocks[c::clients] for c in range(clients)) if lane]


async def warm(url: str, key: str, lanes: list[list[Block]], steps: int) -> Tally:
    tally = Tally()
    async with client(key, len(lanes)) as http:
        await asyncio.gather(*(push(http, url, lane, 1e18, tally, steps=steps) for lane in lanes))
    return tally


class PlainPoster:
    """POSTs over one kept-alive HTTP/1.1 connection with a request written in one piece: what
    a probe times is the system's, from the moment its bytes leave. (httpx, which the load
    uses, spends about a millisecond of its own per request before the first byte is sent,
    measured on an idle stack: 1.6 ms against 0.6 ms from the call to the gateway's XADD.)"""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "", parts.port or 80, parts.path
        self.head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nX-API-Key: {key}\r\n"
            "Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> PlainPoster:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.writer is not None:
            self.writer.close()

    async def post(self, body: bytes) -> tuple[float, int, bytes]:
        """(when the request was written, the status, the body of the reply)."""
        assert self.reader is not None and self.writer is not None
        request = self.head.replace("{length}", str(len(body))).encode() + body
        sent = time.time()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines
            if line.lower().startswith(b"content-length")
        )
        return sent, status, await self.reader.readexactly(length)


@dataclass
class Probe:
    """One timed spike: wall-clock times in seconds, the stream entries' times from their ids
    (Redis' clock, milliseconds)."""

    sent: float
    seen: float
    ingested: float  # the gateway's XADD of the spike's metric entry
    published: float  # the detector's XADD of the anomaly
    replied: float  # the gateway's reply to the spike read by the client (wall clock)

    @property
    def total(self) -> float:
        return self.seen - self.sent


def _entry_time(entry_id: bytes | str) -> float:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0]) / 1000


def background_load(url: str, key: str, lanes: list[list[Block]], pace_s: float) -> None:
    """The load under which probes are timed, from its own process: the probing client's loop
    then does nothing but send a spike and wait for its anomaly, so its own scheduling is not
    part of the figure. The clients are spread over the pace (client ``i`` starts ``i / n`` of
    it late), as independent agents would be, not all sending in the same instant."""

    async def lane(http: httpx.AsyncClient, i: int, blocks: list[Block]) -> None:
        await asyncio.sleep(i * pace_s / len(lanes))
        await push(http, url, blocks, 1e18, Tally(), pace_s)

    async def forever() -> None:
        async with client(key, len(lanes)) as http:
            await asyncio.gather(*(lane(http, i, blocks) for i, blocks in enumerate(lanes)))

    asyncio.run(forever())


async def probe_latency(
    url: str, key: str, redis_url: str, probes: Block, background: list[list[Block]], rate: float
) -> tuple[list[Probe], int]:
    """Spike each probe series once while the others run at ``rate`` samples/s (sent by another
    process); the time from sending the spike to reading its anomaly event off the stream."""
    import multiprocessing

    import redis.asyncio as aredis

    reader = aredis.Redis.from_url(redis_url)
    last = await reader.xrevrange(ANOMALIES, count=1)
    position: bytes = last[0][0] if last else b"0-0"
    per_request = len(background[0][0].names)
    pace = len(background) * per_request / rate if rate else 1.0
    timed: list[Probe] = []
    at = (probes.start + timedelta(seconds=probes.step + 5)).isoformat()
    # The anomaly stream is read all the time, as a consumer of it would (the remediator
    # blocks on it): a probe's anomaly is seen when it is written, whether or not the
    # gateway's reply to the spike has reached the client yet.
    waiting: dict[bytes, asyncio.Future[tuple[float, float]]] = {}
    reading = True
    missed = 0  # spikes whose anomaly was not read within 5 s

    async def read_anomalies() -> None:
        nonlocal position
        while reading:
            rows = await reader.xread({ANOMALIES: position}, block=100, count=100)
            seen = time.time()
            for entry_id, fields in rows[0][1] if rows else []:
                position = entry_id
                for name, future in list(waiting.items()):
                    if name in fields[b"data"] and not future.done():
                        future.set_result((seen, _entry_time(entry_id)))

    load = multiprocessing.get_context("fork").Process(
        target=background_load, args=(url, key, background, pace), daemon=True
    )
    load.start()
    watcher = asyncio.create_task(read_anomalies())
    try:
        async with PlainPoster(url, key) as http:
            await asyncio.sleep(1.5)
            for name in probes.names:
                body = (
                    f'{{"samples":[{{"resource_id":"{name}","metric":"cpu_utilization",'
                    f'"value":500.0,"timestamp":"{at}"}}]}}'
                ).encode()
                marker = f'"resource_id":"{name}"'.encode()
                anomaly = waiting[marker] = asyncio.get_running_loop().create_future()
                # Spread over the background's cycle, never in step with it.
                await asyncio.sleep(0.05 + random.random() * pace)
                sent, status, reply = await http.post(body)
                replied = time.time()
                if status != 202:
                    raise RuntimeError(f"the probe's spike was refused: {status} {reply!r}")
                ingested = _entry_time(json.loads(reply)["entries"][0])
                try:
                    seen, published = await asyncio.wait_for(anomaly, 5.0)
                except TimeoutError:
                    missed += 1
                    continue
                finally:
                    del waiting[marker]
                timed.append(Probe(sent, seen, ingested, published, replied))
    finally:
        # Not cancelled: redis' client does not give a blocked read up cleanly.
        reading = False
        await asyncio.gather(watcher, return_exceptions=True)
        load.terminate()
        load.join()
        await reader.aclose()
    return timed, missed


def report_latency(timed: list[Probe], missed: int, rate: float) -> None:
    if not timed:
        print(f"sample -> anomaly at 10 % of peak: no anomaly observed ({missed} spikes sent)")
        return
    print(
        f"sample -> anomaly at 10 % of peak ({rate:,.0f} samples/s), {len(timed)} anomalies"
        f" ({missed} spikes without one within 5 s):"
    )
    # An entry id holds whole milliseconds of Redis' clock: the anomaly was written at most a
    # millisecond after its id's time, so that millisecond is counted (an upper bound).
    totals = {
        "written (the anomaly's stream entry)": [p.published + 0.001 - p.sent for p in timed],
        "read by a client blocked on the stream": [p.total for p in timed],
    }
    for what, values in totals.items():
        print(
            f"  {what:<42} median {statistics.median(values) * 1000:6.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:6.1f} ms, max {max(values) * 1000:6.1f} ms"
        )
    # Where the time went, from the entries' ids (whole milliseconds of Redis' clock).
    stages = {
        "sent -> metric entry (gateway)": [p.ingested - p.sent for p in timed],
        "metric entry -> anomaly entry (detector)": [p.published - p.ingested for p in timed],
        "anomaly entry -> read by the client": [p.seen - p.published for p in timed],
        "(sent -> the gateway's reply read)": [p.replied - p.sent for p in timed],
    }
    print("  stages:")
    for stage, values in stages.items():
        print(
            f"  {stage:<42} median {statistics.median(values) * 1000:6.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:6.1f} ms"
        )
    slowest = sorted(timed, key=lambda p: p.published - p.sent)[-5:]
    print(
        "  the 5 slowest written, gateway + detector ms: "
        + ", ".join(
            f"{(p.ingested - p.sent) * 1000:.1f} + {(p.published - p.ingested) * 1000:.0f}"
            for p in reversed(slowest)
        )
    )


# -- the run -------------------------------------------------------------------------------------


def base_env(redis_url: str) -> dict[str, str]:
    """What every benchmark's stack runs with: this environment without its own ``SCOPS_``
    settings, quiet logs, no ingest budget in the way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCOPS_")}
    env.update(
        {
            "SCOPS_REDIS_URL": redis_url,
            "SCOPS_LOG_LEVEL": "WARNING",
            "SCOPS_METRIC_SHARDS": str(SHARDS),
            "SCOPS_INGEST_RATE_PER_MIN": "100000000",
            "SCOPS_WORKER_METRICS_PORT": "0",
        }
    )
    return env


def stack_env(redis_url: str, detectors: int) -> tuple[dict[str, str], list[str]]:
    env = base_env(redis_url)
    env["SCOPS_MODEL_DIR"] = tempfile.mkdtemp(prefix="scops-bench-models-")
    for name in ("gateway", "remediator", "notifier"):
        port = free_port()
        env[f"SCOPS_{name.upper()}_PORT"] = str(port)
        env[f"SCOPS_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    detector_urls = [f"http://127.0.0.1:{free_port()}" for _ in range(detectors)]
    env["SCOPS_DETECTOR_URL"] = detector_urls[0]
    env["SCOPS_DETECTOR_URLS"] = json.dumps(detector_urls)
    return env, detector_urls


def start_stack(
    env: dict[str, str], detector_urls: list[str], logs: Path
) -> tuple[list[Proc], list[Proc]]:
    procs, detectors = [], []
    for index, url in enumerate(detector_urls):
        shards = detector_shards(index, len(detector_urls), SHARDS)
        own = {
            **env,
            "SCOPS_DETECTOR_PORT": url.rsplit(":", 1)[1],
            "SCOPS_DETECTOR_SHARDS": ",".join(map(str, shards)),
        }
        detectors.append(spawn(f"detector-{index}", ["serve", "detector"], own, logs, url))
    procs += detectors
    for name in ("gateway", "remediator", "notifier"):
        procs.append(spawn(name, ["serve", name], env, logs, env[f"SCOPS_{name.upper()}_URL"]))
    procs.append(spawn("worker", ["worker", "--concurrency", "1"], env, logs, None))
    wait_ready(procs, logs)
    return procs, detectors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def run(args: argparse.Namespace) -> None:
    handle: LocalRedis = ensure_redis(args.redis_url or f"redis://127.0.0.1:{free_port()}/0")
    logs = Path(tempfile.mkdtemp(prefix="scops-bench-pipeline-"))
    env, detector_urls = stack_env(handle.url, args.detectors)
    procs: list[Proc] = []
    try:
        print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}; logs {logs}")
        xadd = raw_xadd_rate(handle.url)
        print(f"redis pipelined XADD (120-byte entries, pipelines of 1,000): {xadd:,.0f} /s")
        procs, detectors = start_stack(env, detector_urls, logs)
        sync = redis.Redis.from_url(handle.url)
        key = asyncio.run(create_key(handle.url, "bench", Role.INGEST))
        url = env["SCOPS_GATEWAY_URL"] + "/v1/metrics"
        warmup = DetectorSettings().warmup_samples + 10
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        names = [f"host-{i}" for i in range(args.series)]
        blocks = [
            Block(names[i : i + args.batch], start) for i in range(0, args.series, args.batch)
        ]
        lanes = split_lanes(blocks, args.clients)
        probes = Block([f"probe-{j}" for j in range(args.probes)], start)
        rss_before = sum(rss_bytes(d.process.pid) for d in detectors)

        # Warmed in two halves: the second half's growth is what a series costs once the
        # process's fixed buffers (read replies, decoders, metric children) are in place.
        half = max(1, len(blocks) // 2)
        began = time.perf_counter()
        asyncio.run(warm(url, key, [*split_lanes(blocks[:half], args.clients), [probes]], warmup))
        wait_drained(sync, detectors)
        rss_half = sum(rss_bytes(d.process.pid) for d in detectors)
        later = blocks[half:]
        if later:
            asyncio.run(warm(url, key, split_lanes(later, args.clients), warmup))
            wait_drained(sync, detectors)
        series = args.series + args.probes
        print(
            f"warm-up: {series:,} series x {warmup} samples in {time.perf_counter() - began:.0f} s"
        )
        rss_after = sum(rss_bytes(d.process.pid) for d in detectors)
        memory = (rss_after - rss_before) / series
        later_series = sum(len(block.names) for block in later)
        marginal = (rss_after - rss_half) / later_series if later_series else memory

        everyone = {p.name: p.process.pid for p in procs}
        if handle.process is not None:
            everyone["redis"] = handle.process.pid
        cpu_before = {name: cpu_seconds(pid) for name, pid in everyone.items()}
        own_before = resource.getrusage(resource.RUSAGE_SELF)
        scored_before = predictions(detectors)
        tally = asyncio.run(load(url, key, lanes, args.seconds))
        pushed = time.perf_counter()
        done = wait_drained(sync, detectors)
        scored = predictions(detectors) - scored_before
        own_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in everyone.items()}
        cpu["load generator (this process)"] = (own_after.ru_utime + own_after.ru_stime) - (
            own_before.ru_utime + own_before.ru_stime
        )
        window = done - tally.first
        accepted_rate = tally.accepted / (pushed - tally.first)
        print(
            f"pushed {args.seconds:.0f} s from {len(lanes)} clients, batches of {args.batch}: "
            f"{accepted_rate:,.0f} samples/s accepted ({tally.refused} refused); "
            f"drained {done - pushed:.1f} s after the push"
        )
        print(
            f"samples scored: {scored / window:,.0f} /s (ml_predictions_total over first push "
            f"-> drained, {window:.1f} s, {args.detectors} detector process(es))"
        )
        print(f"CPU seconds from first push to drained ({window:.1f} s of wall time):")
        for name, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
            print(f"  {name:<32} {seconds:6.1f} s")
        detector_cpu = sum(v for k, v in cpu.items() if k.startswith("detector"))
        gateway_cpu = cpu["gateway"]
        if detector_cpu:
            print(f"  per detector CPU-second: {scored / detector_cpu:,.0f} samples scored")
        if gateway_cpu:
            print(f"  per gateway CPU-second: {tally.accepted / gateway_cpu:,.0f} samples accepted")
        print(
            f"detector memory: {memory / 1024:.1f} KiB per series (RSS growth over warm-up), "
            f"{marginal / 1024:.1f} KiB per series added once the first half was warm"
        )

        # The peak the stack sustains is what it scores: accepting faster only grows a backlog.
        rate = min(accepted_rate, scored / window) * 0.10
        if STALLS_DIR is not None:  # what the probes' phase alone held the loops for
            for proc in procs:
                if proc.name.startswith(PROBED):
                    proc.process.send_signal(signal.SIGUSR1)
        timed, missed = asyncio.run(probe_latency(url, key, handle.url, probes, lanes, rate))
        report_latency(timed, missed, rate)
        sync.close()
    finally:
        for proc in procs:
            proc.process.terminate()
        for proc in procs:
            try:
                proc.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.process.kill()
        handle.stop()
    if STALLS_DIR is not None:
        print("event-loop stalls and GC pauses while the probes ran (bench/loop_stalls.py):")
        for proc in procs:
            if proc.name.startswith(PROBED):
                print("\n".join(loop_stalls.summary(STALLS_DIR / f"{proc.name}.json", proc.name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to push")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000, help="samples per request")
    parser.add_argument("--series", type=int, default=8000)
    parser.add_argument("--probes", type=int, default=200, help="anomalies timed at 10 %%")
    parser.add_argument("--detectors", type=int, default=1, help="detector processes")
    parser.add_argument("--redis-url", default=None, help="use this Redis when it answers")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write cProfile files of the gateway and "
        "detectors here (read with python -m pstats); slows them down",
    )
    parser.add_argument(
        "--stalls",
        type=Path,
        default=None,
        help="run the gateway and detectors with an event-loop stall and GC pause probe "
        "writing here (bench/loop_stalls.py), and print what it saw while the probes ran",
    )
    args = parser.parse_args()
    global PROFILE_DIR, STALLS_DIR
    PROFILE_DIR = args.profile
    STALLS_DIR = args.stalls
    for folder in (PROFILE_DIR, STALLS_DIR):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    # Stopped by SIGTERM (``timeout``, a CI limit), it still stops the stack it started.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    run(args)


if __name__ == "__main__":
    main()

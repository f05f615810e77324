"""Chaos under load: the whole stack as ``scops up`` runs it (Redis aside), one of its processes
killed with SIGKILL every --every seconds while metrics stream in, then what a user must find.

Series are warmed past the detector's warm-up; then, while the kills go on, each gets one spike
(a value of its own) at its own moment. A rule per series runs a catalogue script through the
local executor that appends the series' name to a file: the file is the ground truth of what
ran. A client sends every request until the gateway accepts it (202), as a careful sender
does. After the last request the kills stop and the stack settles, then the checks:

- every sample the gateway accepted is on the metric streams (none lost);
- every spike was raised as an anomaly (learning survived the detector's deaths);
- the action of each series ran at most once (the file), and at least once when its record
  says it succeeded; one record of each (anomaly, action) ends it;
- every spike and every decision that ran reached Slack (a stand-in) at least once (duplicates
  counted);
- the history store holds an incident for every spike and an audit row for every decision
  record (its copy of the streams is at-least-once too).

Prints the kills and each check's figures; exits 1 when a check fails.

Run: .venv/bin/python bench/chaos.py [--series 30] [--seconds 40] [--every 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the Slack stand-in

from pipeline import SHARDS, base_env, is_ready  # noqa: E402

from scops.keys import create_key  # noqa: E402
from scops.local_redis import ensure_redis, free_port  # noqa: E402
from scops.processes import ALL_SERVICES  # noqa: E402
from services.gateway.api_keys import Role  # noqa: E402
from shared.events import RemediationRecord, RemediationStatus  # noqa: E402
from shared.metric_batches import decode_columns  # noqa: E402
from shared.streams import ANOMALIES, all_metric_streams  # noqa: E402
from tests.support.records import remediation_records  # noqa: E402
from tests.support.slack_standin import SlackStandIn  # noqa: E402

WARMUP = 230  # samples per series before the spikes (the detector warms up over 200)
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
RUNNING = {RemediationStatus.RUNNING, RemediationStatus.APPROVED}


def names(count: int) -> list[str]:
    return [f"node-{i}" for i in range(count)]


def rules_and_scripts(series: list[str], marker: Path) -> tuple[str, str]:
    rules = [
        "version: 1",
        "policy:",
        "  verify: off",
        "  blast_radius: {max_targets: 10000, window: 1h}",
        "rules:",
    ]
    scripts = ["version: 1", "scripts:"]
    for i, name in enumerate(series):
        rules += [
            f"  - name: {name}",
            f"    match: {{metric: cpu_*, resources: [{name}]}}",
            f"    actions: [{{action: optimize_performance, params: {{script: mark-{i}}}}}]",
        ]
        scripts += [
            f"  mark-{i}:",
            "    description: The fix, as a line in a file.",
            "    risk: low",
            "    timeout_s: 30",
            f"    commands: ['echo {name} >> {marker}']",
        ]
    return "\n".join(rules) + "\n", "\n".join(scripts) + "\n"


def environment(
    redis_url: str, work: Path, slack: SlackStandIn, series: list[str]
) -> dict[str, str]:
    rules, scripts = rules_and_scripts(series, work / "ran.txt")
    (work / "rules.yaml").write_text(rules)
    (work / "catalogue.yaml").write_text(scripts)
    env = base_env(redis_url)
    env.update(
        {
            "SCOPS_RULES_PATH": str(work / "rules.yaml"),
            "SCOPS_SCRIPT_CATALOGUE_PATH": str(work / "catalogue.yaml"),
            "SCOPS_EXECUTOR": "local",
            "SCOPS_DRY_RUN": "false",
            "SCOPS_RATE_LIMIT_PER_HOUR": "100000",
            "SCOPS_GROUP_WAIT_S": "1",
            "SCOPS_GROUP_INTERVAL_S": "2",
            "SCOPS_SLACK_WEBHOOK_URL": slack.url,
            "SCOPS_MODEL_DIR": str(work / "models"),
            "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'history.db'}",
        }
    )
    for name in (*ALL_SERVICES, "history"):
        port = free_port()
        env[f"SCOPS_{name.upper()}_PORT"] = str(port)
        env[f"SCOPS_{name.upper()}_URL"] = f"http://127.0.0.1:{port}"
    return env


# -- the stack and its deaths ------------------------------------------------------------------


def children(parent: int) -> dict[int, str]:
    """The stack's processes (children of ``scops up``): pid -> what it runs."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid != parent:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if words and "redis-server" in words[0]:  # its title: "redis-server host:port"
            found[int(entry.name)] = "redis"
        elif "serve" in words:
            found[int(entry.name)] = words[words.index("serve") + 1]
        elif "worker" in words:
            found[int(entry.name)] = "worker"
    return found


def wait_ready(env: dict[str, str], timeout: float = 120) -> None:
    urls = [env[f"SCOPS_{name.upper()}_URL"] for name in ("gateway", "detector", "remediator")]
    urls += [env["SCOPS_NOTIFIER_URL"], env["SCOPS_HISTORY_URL"]]
    deadline = time.monotonic() + timeout
    for url in urls:
        while not is_ready(url):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} not ready")
            time.sleep(0.3)


class Killer(threading.Thread):
    def __init__(self, up: int, every: float, seed: int, redis_too: bool) -> None:
        super().__init__(daemon=True)
        self.up, self.every, self.redis_too = up, every, redis_too
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.kills: Counter[str] = Counter()

    def run(self) -> None:
        while not self.stop.wait(self.every * self.rng.uniform(0.5, 1.5)):
            stack = {
                pid: name
                for pid, name in children(self.up).items()
                if self.redis_too or name != "redis"
            }
            if not stack:
                continue
            pid = self.rng.choice(sorted(stack))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills[stack[pid]] += 1


# -- the load ------------------------------------------------------------------------------------


class Sender:
    """Sends each request until it is accepted; counts what was accepted, per series."""

    def __init__(self, url: str, key: str) -> None:
        self.client = httpx.Client(timeout=10, headers={"X-API-Key": key})
        self.url = url
        self.accepted: Counter[str] = Counter()
        self.retries = 0

    def send(self, samples: list[dict[str, object]]) -> None:
        deadline = time.monotonic() + 120
        while True:
            try:
                reply = self.client.post(self.url, json={"samples": samples})
                if reply.status_code == 202:
                    for sample in samples:
                        self.accepted[str(sample["resource_id"])] += 1
                    return
                if reply.status_code < 500 and reply.status_code != 429:
                    raise SystemExit(f"refused: {reply.status_code} {reply.text[:300]}")
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the gateway accepted nothing for two minutes")
            self.retries += 1
            time.sleep(0.1)


def tick(
    series: list[str], minute: int, rng: random.Random, spikes: dict[str, tuple[int, float]]
) -> list[dict[str, object]]:
    at = (START + timedelta(minutes=minute)).isoformat()
    samples = []
    for name in series:
        when, value = spikes.get(name, (-1, 0.0))
        samples.append(
            {
                "resource_id": name,
                "metric": "cpu_utilization",
                "value": value if when == minute else round(rng.gauss(40, 2), 2),
                "timestamp": at,
            }
        )
    return samples


# -- the checks ----------------------------------------------------------------------------------


def streamed(client: redis.Redis) -> Counter[str]:
    """Distinct samples per series on the metric streams (a retried request may write twice)."""
    seen: dict[str, set[int]] = {}
    for stream in all_metric_streams(SHARDS):
        for _, fields in client.xrange(stream):
            batch = decode_columns(fields[b"data"])
            for resource, at in zip(batch.resource_id, batch.timestamp_us, strict=True):
                seen.setdefault(resource, set()).add(at)
    return Counter({name: len(times) for name, times in seen.items()})


def raised(client: redis.Redis) -> set[tuple[str, float]]:
    found = set()
    for _, fields in client.xrange(ANOMALIES):
        data = json.loads(fields[b"data"])
        if data.get("type") == "anomaly.detected.v1":
            found.add((data["resource_id"], data["value"]))
    return found


def _names(resource: str, text: str) -> bool:
    """Whether ``text`` names ``resource`` (``node-1`` is not named by ``node-12``)."""
    return re.search(rf"(?<![\w-]){re.escape(resource)}(?!\w)", text) is not None


def settle(client: redis.Redis, spikes: dict[str, tuple[int, float]], timeout: float) -> float:
    """Until every spike is raised and every record has ended (or ``timeout``)."""
    began = time.monotonic()
    wanted = {(name, value) for name, (_, value) in spikes.items()}
    while time.monotonic() - began < timeout:
        try:
            records = remediation_records(client)
            ended = all(r.status not in RUNNING for r in latest(records).values())
            if wanted <= raised(client) and ended and len(latest(records)) >= len(spikes):
                break
        except redis.ConnectionError:  # killed last, Redis may still be loading its data
            pass
        time.sleep(0.5)
    return time.monotonic() - began


def history_gaps(
    db: Path, spiked: Iterable[str], records: Iterable[RemediationRecord]
) -> tuple[list[str], list[str]]:
    """Spiked series with no incident in the history's database, and decision records with no
    audit row there (a database not written yet counts as holding nothing)."""
    resources: set[str] = set()
    audited: set[str] = set()
    if db.exists():
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
            try:
                resources = {
                    r for (r,) in conn.execute("SELECT DISTINCT resource_id FROM incidents")
                }
                audited = {e for (e,) in conn.execute("SELECT event_id FROM audit")}
            except sqlite3.OperationalError:  # the tables are not created yet
                pass
    missing = sorted(n for n in spiked if n not in resources)
    unaudited = sorted({str(r.event_id) for r in records} - audited)
    return missing, unaudited


def latest(
    records: list[RemediationRecord],
) -> dict[tuple[str, str | None], RemediationRecord]:
    """The last record of each (anomaly, action)."""
    return {(str(r.anomaly_id), r.action): r for r in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=40.0, help="of load under kills")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between kills")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--detectors", type=int, default=1, help="detector processes")
    parser.add_argument(
        "--kill-redis",
        action="store_true",
        help="let scops up start Redis (its data on disk) and kill it too",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="scops-chaos-"))
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    # Started here unless scops up is to start it (and see it killed).
    handle = None if args.kill_redis else ensure_redis(redis_url)
    slack = SlackStandIn().start()
    series = names(args.series)
    env = environment(redis_url, work, slack, series)
    up = subprocess.Popen(
        [
            *(sys.executable, "-m", "scops", "up", "--run-dir", str(work / "run")),
            *("--detectors", str(args.detectors)),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=(work / "up.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    killer = Killer(up.pid, args.every, args.seed, args.kill_redis)
    failed: list[str] = []
    try:
        wait_ready(env)
        print(f"stack up (logs {work}/run/logs)")
        key = asyncio.run(create_key(redis_url, "chaos", Role.INGEST))
        sender = Sender(env["SCOPS_GATEWAY_URL"] + "/v1/metrics", key)
        rng = random.Random(args.seed)
        for minute in range(WARMUP):
            sender.send(tick(series, minute, rng, {}))
        ticks = max(len(series) * 2, int(args.seconds * 10))
        spikes = {
            name: (WARMUP + 5 + (ticks - 10) * i // len(series), 90.0 + i / 10)
            for i, name in enumerate(series)
        }
        killer.start()
        began = time.monotonic()
        for minute in range(WARMUP, WARMUP + ticks):
            sender.send(tick(series, minute, rng, spikes))
            time.sleep(
                max(0.0, began + (minute - WARMUP + 1) * args.seconds / ticks - time.monotonic())
            )
        killer.stop.set()
        killer.join()
        print(
            f"load: {ticks} ticks of {len(series)} series in {time.monotonic() - began:.0f} s, "
            f"{sender.retries} retries; kills: {dict(killer.kills)}"
        )
        client = redis.Redis.from_url(redis_url)
        waited = settle(client, spikes, timeout=120)
        print(f"settled in {waited:.0f} s")

        on_streams = streamed(client)
        lost = {
            n: sender.accepted[n] - on_streams[n]
            for n in series
            if on_streams[n] < sender.accepted[n]
        }
        print(
            f"samples accepted {sum(sender.accepted.values()):,}, distinct on the streams "
            f"{sum(on_streams.values()):,}; series missing some: {len(lost)}"
        )
        if lost:
            failed.append(f"accepted samples missing from the streams: {lost}")

        found = raised(client)
        missed = sorted(n for n, (_, v) in spikes.items() if (n, v) not in found)
        print(f"spikes raised: {len(spikes) - len(missed)} of {len(spikes)}")
        if missed:
            failed.append(f"spikes never raised: {missed}")

        ran = (
            Counter((work / "ran.txt").read_text().split())
            if (work / "ran.txt").exists()
            else Counter()
        )
        records = remediation_records(client)
        last = latest(records)
        statuses = Counter(r.status.value for r in last.values())
        succeeded = Counter(
            r.resource_id for r in last.values() if r.status == RemediationStatus.SUCCEEDED
        )
        blocked = Counter(
            f"{r.blocked_by}: {r.reason[:90]}"
            for r in last.values()
            if r.status == RemediationStatus.BLOCKED
        )
        for reason, count in blocked.most_common(5):
            print(f"  blocked x{count}: {reason}")
        twice = {n: c for n, c in ran.items() if c > 1}
        unrun = sorted(n for n in succeeded if ran[n] == 0)
        print(
            f"decisions (last record of each): {dict(statuses)}; actions run {sum(ran.values())}, "
            f"on {len(ran)} series; run twice: {twice or 'none'}"
        )
        if twice:
            failed.append(f"actions run more than once: {twice}")
        if unrun:
            failed.append(f"recorded succeeded but never ran: {unrun}")
        # A worker killed while a local script ran cannot know how far it got: its record
        # says interrupted ("may have been partly done"), which is the truth, not a loss.
        told_ran = {
            r.resource_id
            for r in last.values()
            if r.status in (RemediationStatus.SUCCEEDED, RemediationStatus.INTERRUPTED)
        }
        unrecorded = sorted(n for n in ran if n not in told_ran)
        if unrecorded:
            failed.append(f"actions run with no succeeded or interrupted record: {unrecorded}")
        if len(last) < len(spikes):
            failed.append(f"decisions recorded {len(last)}, spikes {len(spikes)}")
        unfinished = [k for k, r in last.items() if r.status in RUNNING]
        if unfinished:
            failed.append(f"decisions never ended: {unfinished}")

        # A message in hand of a notifier killed mid-send is taken over once idle for the
        # claim time (30 s), at the next reclaim (every 15 s), then paced at one a second.
        deadline = time.monotonic() + 90
        while True:
            texts = [json.dumps(body) for body in slack.accepted]
            # Named in a grouped message's list or in the action's own result ("on
            # tag:Name=node-7"); a group of many lists the first few and "N more".
            # Every spiked series is told (its anomaly), every succeeded action too.
            told = sorted(set(spikes) | set(succeeded))
            unseen = [n for n in told if not any(_names(n, t) for t in texts)]
            if not unseen or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        print(
            f"Slack messages {len(slack.accepted)}; spiked series or succeeded actions never "
            f"told: {len(unseen)}"
        )
        if unseen:
            (work / "slack.json").write_text(json.dumps(slack.accepted, indent=1))
            failed.append(f"anomalies or succeeded actions never told to Slack: {unseen}")

        # The history service copies incidents and decisions from the streams at least once:
        # every raised spike is an incident there, every decision recorded an audit row.
        deadline = time.monotonic() + 60
        while True:
            no_incident, unaudited = history_gaps(work / "history.db", spikes, records)
            if not (no_incident or unaudited) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        print(
            f"history: spikes without an incident {len(no_incident)}, "
            f"decisions without an audit row {len(unaudited)} of {len(records)}"
        )
        if no_incident:
            failed.append(f"spikes with no incident in the history: {no_incident}")
        if unaudited:
            failed.append(f"decisions missing from the history's audit: {unaudited[:10]}")
    finally:
        killer.stop.set()
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
        slack.stop()
        if handle is not None:
            handle.stop()
    if failed:
        print("FAILED:\n- " + "\n- ".join(failed))
        raise SystemExit(1)
    print("every check held")


if __name__ == "__main__":
    main()

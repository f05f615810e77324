"""How long the console's pages take with 100,000 incidents stored.

Run from the repository root: ``.venv/bin/python docs/console/measure_page_load.py``. It loads
100,000 incidents (8 steps each) into a fresh SQLite history in bulk (``bench/history.py``'s
loader), starts its own Redis, the history service, the remediator, the notifier and the
gateway, signs in to the console with an operator key, and times each page over HTTP: wall
median and p95 of 30 requests, and the CPU time the gateway and the history service spend per
page (less noisy on a busy machine than wall time).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.history import STORED, load  # noqa: E402
from scops.local_redis import ensure_redis, free_port  # noqa: E402
from tests.integration.console.session_client import ConsoleClient  # noqa: E402
from tests.support.processes import api_key, service, stack_env  # noqa: E402

REQUESTS = 30


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(client: ConsoleClient, path: str, pids: dict[str, int]) -> str:
    first = client.page(path)
    assert first.status_code == 200, (path, first.status_code, first.text[:300])
    taken = []
    cpu_before = {name: _cpu_s(pid) for name, pid in pids.items()}
    for _ in range(REQUESTS):
        started = time.perf_counter()
        reply = client.page(path)
        taken.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200
    cpu = {n: (_cpu_s(p) - cpu_before[n]) * 1000 / REQUESTS for n, p in pids.items()}
    taken.sort()
    shown = ", ".join(f"{n} {ms:.1f} ms CPU" for n, ms in cpu.items())
    return (
        f"median {statistics.median(taken):6.1f} ms, p95 {taken[int(0.95 * REQUESTS)]:6.1f} ms"
        f" ({shown} per page)"
    )


def main() -> int:
    redis = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with tempfile.TemporaryDirectory() as work:
            database = f"sqlite+aiosqlite:///{Path(work) / 'history.db'}"
            started = time.perf_counter()
            incident = asyncio.run(load(database))
            print(f"loaded {STORED:,} incidents in {time.perf_counter() - started:.0f} s")
            history_port = free_port()
            env = stack_env(
                redis.url,
                {
                    "SCOPS_HISTORY_PORT": str(history_port),
                    "SCOPS_HISTORY_URL": f"http://127.0.0.1:{history_port}",
                    "SCOPS_HISTORY_DATABASE_URL": database,
                    "SCOPS_LOG_LEVEL": "WARNING",
                },
            )
            names = ("history", "remediator", "notifier", "gateway")
            processes = [service(name, env, Path(work)) for name in names]
            try:
                for process in processes:
                    process.start()
                for process in processes:
                    process.wait_ready(120)
                pids = {
                    p.name: p.process.pid
                    for p in processes
                    if p.process is not None and p.name in ("gateway", "history")
                }
                client = ConsoleClient(processes[-1].url or "")
                assert client.sign_in(api_key(redis.url, "operator", "bench")).status_code == 303
                for label, path in (
                    ("incident page (8 steps)", f"/console/incidents/{incident}"),
                    ("open incidents", "/console/incidents"),
                    ("resolved incidents", "/console/incidents?status=resolved"),
                    ("overview", "/console/"),
                ):
                    print(f"  {label:<26} {measure(client, path, pids)}")
                client.close()
            finally:
                for process in processes:
                    process.stop()
    finally:
        redis.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

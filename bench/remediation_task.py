"""The remediation worker's task body alone: CPU per decision of ``handle_anomaly`` (the real
task function, rules published as the API does, dry-run, against a Redis of its own), without
Celery's share, which ``bench/remediation.py`` measures with it. Each anomaly is on a resource of
its own, as in that benchmark's bursts.

Prints the CPU time per decision of this process (Redis's own is not counted), the fastest and
the median of several chunks (the machine is often busy: the fastest is the steadier figure),
and with ``--profile`` the functions that cost the most. Asserts nothing.
Run: .venv/bin/python bench/remediation_task.py [--decisions 4000] [--profile [--cpu]
[--sort cumulative] [--lines 60]]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from scops.local_redis import ensure_redis, free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=4000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="cProfile one pass and print")
    parser.add_argument("--sort", default="tottime", help="the profile's order (pstats key)")
    parser.add_argument("--lines", type=int, default=30, help="the profile's length")
    parser.add_argument("--cpu", action="store_true", help="profile CPU time, not wall time")
    args = parser.parse_args()

    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    for name in [n for n in os.environ if n.startswith("SCOPS_")]:
        del os.environ[name]
    os.environ |= {
        "SCOPS_ENV": "test",
        "SCOPS_REDIS_URL": handle.url,
        "SCOPS_LOG_LEVEL": "WARNING",
        "SCOPS_DRY_RUN": "true",
    }
    try:
        run(args)
    finally:
        handle.stop()


def run(args: argparse.Namespace) -> None:
    # Imported once the settings are in the environment, as in a worker.
    from remediation import anomaly

    from services.remediator import tasks
    from services.remediator.celery_app import settings
    from shared.logging import configure_logging

    configure_logging("remediator-worker", settings.log_level, settings.log_json)
    base = datetime.now(UTC) - timedelta(hours=2)

    def event(n: int) -> dict[str, Any]:
        # as the dispatcher sends it
        return anomaly(n, base + timedelta(seconds=n)).model_dump(mode="json")

    warm = 200
    events = [event(n) for n in range(args.decisions + warm)]
    tasks.remediator().rules.load_and_publish()  # the API publishes the rules at start-up
    for each in events[:warm]:
        tasks.handle_anomaly(event=each)
    measured = events[warm:]
    if args.profile:
        # --cpu: CPU time, as the figures below (wall time counts the waits for Redis and for
        # the machine too), at the price of a clock read per call (small functions look dearer).
        profile = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
        profile.enable()
        for each in measured:
            tasks.handle_anomaly(event=each)
        profile.disable()
        stats = pstats.Stats(profile, stream=sys.stdout)
        stats.sort_stats(args.sort).print_stats(args.lines)
        return
    per_chunk = []
    for start in range(0, len(measured), args.chunk):
        chunk = measured[start : start + args.chunk]
        began = time.process_time()
        for each in chunk:
            tasks.handle_anomaly(event=each)
        per_chunk.append((time.process_time() - began) / len(chunk))
    print(
        f"handle_anomaly, {len(measured)} decisions (dry-run, one resource each): CPU per "
        f"decision in this process: fastest chunk {min(per_chunk) * 1e6:,.0f} µs, median "
        f"{statistics.median(per_chunk) * 1e6:,.0f} µs ({len(per_chunk)} chunks of {args.chunk})"
    )


if __name__ == "__main__":
    main()

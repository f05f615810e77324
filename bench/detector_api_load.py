"""Detection latency while large synchronous scoring requests are served: a real gateway, detector
and Redis; samples past a hard limit are posted to /v1/metrics and timed from the request to their
anomaly event, first with no other load, then while clients send the largest POST /anomaly/batch
(100 series x 1,000 points) back to back through the gateway. Prints figures; asserts nothing.

Run: .venv/bin/python bench/detector_api_load.py [--probes 20] [--clients 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scops.local_redis import ensure_redis, free_port
from tests.support.processes import api_key, service, stack_env
from tests.support.scoring_load import BatchLoad, anomaly_latencies


def _figures(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"{name:<28} n={len(values):<3} median {statistics.median(values) * 1000:7.1f} ms"
        f"   p95 {p95 * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0")
    logs = Path(tempfile.mkdtemp(prefix="bench-api-load-"))
    env = stack_env(handle.url, {"SCOPS_PROXY_COSTLY_RATE_PER_MIN": "100000"})
    detector = service("detector", env, logs).start()
    gateway = service("gateway", env, logs).start()
    try:
        detector.wait_ready()
        gateway.wait_ready()
        url = gateway.url or ""
        ingest, viewer = api_key(handle.url, "ingest"), api_key(handle.url, "viewer")
        quiet = anomaly_latencies(url, handle.url, ingest, args.probes)
        with BatchLoad(url, viewer, clients=args.clients) as load:
            time.sleep(1.0)
            loaded = anomaly_latencies(url, handle.url, ingest, args.probes)
        print(_figures("sample -> anomaly, quiet", quiet))
        print(_figures(f"... {args.clients} batch clients", loaded))
        if load.seconds:
            print(_figures("batch request (100 x 1000)", load.seconds))
        codes = {code: load.answered.count(code) for code in sorted(set(load.answered))}
        print(f"batch answers: {codes}")
    finally:
        gateway.stop()
        detector.stop()
        handle.stop()


if __name__ == "__main__":
    main()

"""A real Prometheus (Debian's ``/usr/bin/prometheus``) serving history written for the test:
the samples are backfilled into a TSDB block with ``promtool tsdb create-blocks-from
openmetrics``, then Prometheus starts on that data directory on a free loopback port, so hours
of history are there at once."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from scops.local_redis import free_port

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
MISSING = None if PROMETHEUS and PROMTOOL else "prometheus and promtool are not installed"

Sample = tuple[float, float]  # epoch seconds, value


def openmetrics(metric: str, series: Mapping[str, Sequence[Sample]]) -> str:
    """One gauge family; ``series`` maps a label set text (``instance="a",job="b"``) to its
    samples, oldest first."""
    lines = [f"# HELP {metric} test history", f"# TYPE {metric} gauge"]
    for labels, samples in series.items():
        lines += [f"{metric}{{{labels}}} {value!r} {ts:.3f}" for ts, value in samples]
    return "\n".join(lines) + "\n# EOF\n"


@contextmanager
def prometheus_with(history: str, workdir: Path) -> Iterator[str]:
    """Prometheus serving ``history`` (OpenMetrics text); yields its URL."""
    assert PROMETHEUS and PROMTOOL
    data = workdir / "tsdb"
    source = workdir / "history.om"
    source.write_text(history)
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=3650d",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "prometheus.log").read_text()[-2000:])
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

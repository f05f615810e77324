"""A real Prometheus scraping a target this test controls and remote-writing to the running
stack with an ingest key: its samples reach the metrics stream and the detector, a value the
target raises becomes an anomaly and a Slack message, and when Redis stops mid-stream the
gateway answers 503, Prometheus retries, and once Redis is back nothing it scraped is missing."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from scops.local_redis import answers, find_redis_server, free_port
from shared.streams import ANOMALIES, GROUP_DETECTOR, all_metric_streams
from tests.integration.observability.conftest import find_binary, running_binary
from tests.support.metric_stream import stream_samples
from tests.support.processes import SERVICES, StackProcess, api_key, service, stack_env
from tests.support.slack_standin import SlackStandIn

SHARDS = 4


class Target:
    """A scrape target: ``rw_test_value`` counts its scrapes (1, 2, 3...), the counter
    ``rw_test_requests_total`` grows by 10 a scrape, ``disk_used_percent`` is what the test
    sets."""

    def __init__(self) -> None:
        self.scrapes = 0
        self.disk = 40.0
        self.lock = threading.Lock()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with target.lock:
                    target.scrapes += 1
                    n, disk = target.scrapes, target.disk
                body = (
                    "# TYPE rw_test_value gauge\n"
                    f"rw_test_value {n}\n"
                    "# TYPE rw_test_requests_total counter\n"
                    f"rw_test_requests_total {10 * n}\n"
                    "# TYPE disk_used_percent gauge\n"
                    f"disk_used_percent {disk}\n"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PersistentRedis:
    """A redis-server of this test's own that keeps its data on disk (append-only file), so it
    can be stopped and started again on the same port, as a real Redis restarts."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        args += ["--dir", str(self.workdir), "--maxmemory-policy", "noeviction"]
        args += ["--logfile", str(self.workdir / "redis.log")]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while not answers(self.url):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@dataclass
class Setup:
    store: PersistentRedis
    target: Target
    prometheus: str
    gateway: StackProcess
    slack: SlackStandIn

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.store.url)

    def streamed(self, metric: str) -> dict[int, float]:
        """Every sample of ``metric`` on the metrics stream: time (ms) -> value."""
        found: dict[int, float] = {}
        client = self.client()
        try:
            for stream in all_metric_streams(SHARDS):
                for _, fields in client.xrange(stream):
                    for sample in stream_samples(fields):
                        if sample["metric"] == metric:
                            at = datetime.fromisoformat(sample["timestamp"]).timestamp()
                            found[round(at * 1000)] = sample["value"]
        finally:
            client.close()
        return found

    def stored(self, metric: str) -> dict[int, float]:
        """Every raw sample Prometheus stored of ``metric`` (what it sends): time (ms) -> value."""
        reply = httpx.get(
            f"{self.prometheus}/api/v1/query", params={"query": f"{metric}[10m]"}, timeout=10
        ).json()
        found: dict[int, float] = {}
        for series in reply["data"]["result"]:
            for at, value in series["values"]:
                found[round(float(at) * 1000)] = float(value)
        return found

    def prometheus_metric(self, name: str) -> float:
        """The sum of ``name`` in Prometheus' own /metrics (it does not scrape itself here)."""
        text = httpx.get(f"{self.prometheus}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith((name + " ", name + "{"))
        )


def wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _prometheus_config(target: Target, gateway: str, key: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "rw-test",
                "static_configs": [{"targets": [f"127.0.0.1:{target.port}"]}],
                "relabel_configs": [{"target_label": "instance", "replacement": "web-1"}],
            }
        ],
        "remote_write": [
            {
                "url": f"{gateway}/api/v1/write",
                "authorization": {"credentials": key},
                "remote_timeout": "5s",
                "queue_config": {
                    "batch_send_deadline": "200ms",
                    "max_samples_per_send": 100,
                    "min_backoff": "100ms",
                    "max_backoff": "1s",
                },
                "metadata_config": {"send_interval": "1s"},
            }
        ],
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    binary = find_binary("prometheus")
    work = tmp_path_factory.mktemp("remote-write")
    store = PersistentRedis(work)
    store.start()
    target, slack = Target(), SlackStandIn().start()
    extra = {"SCOPS_SLACK_WEBHOOK_URL": slack.url, "SCOPS_GROUP_WAIT_S": "1.5"}
    extra["SCOPS_METRIC_SHARDS"] = str(SHARDS)
    env = stack_env(store.url, extra)
    processes = {name: service(name, env, work) for name in SERVICES}
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_ready(60)
        key = api_key(store.url, "ingest", "prometheus")
        config = _prometheus_config(target, str(processes["gateway"].url), key)
        (work / "prometheus.yml").write_text(yaml.safe_dump(config))
        url = f"http://127.0.0.1:{free_port()}"
        args = [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--log.level=warn",
        ]
        with running_binary(args, f"{url}/-/ready", work / "prometheus.log"):
            yield Setup(store, target, url, processes["gateway"], slack)
    finally:
        for process in processes.values():
            process.stop()
        slack.stop()
        target.close()
        store.stop()


def test_scraped_samples_reach_the_metrics_stream_and_the_detector(setup: Setup) -> None:
    gauge = wait(lambda: setup.streamed("rw_test_value"), 30, "rw_test_value on the stream")
    assert set(gauge.values()) <= set(map(float, range(1, setup.target.scrapes + 1)))
    rates = wait(lambda: setup.streamed("rw_test_requests_total:rate"), 15, "the counter's rate")
    assert all(5.0 < rate < 20.0 for rate in rates.values()), rates  # 10 a scrape, ~1 s apart

    def detector_read_them() -> bool:
        client = setup.client()
        try:
            for stream in all_metric_streams(SHARDS):
                for group in client.xinfo_groups(stream):
                    if group["name"] == GROUP_DETECTOR.encode() and group["entries-read"]:
                        return True
        finally:
            client.close()
        return False

    wait(detector_read_them, 15, "the detector reading the metrics stream")


def test_a_value_the_target_raises_becomes_an_anomaly_and_a_slack_message(setup: Setup) -> None:
    wait(lambda: setup.streamed("disk_used_percent"), 30, "disk_used_percent on the stream")
    setup.target.disk = 99.0

    def anomaly() -> dict[str, Any] | None:
        client = setup.client()
        try:
            for _, fields in client.xrange(ANOMALIES):
                event: dict[str, Any] = json.loads(fields[b"data"])
                if event.get("metric") == "disk_used_percent":
                    return event
        finally:
            client.close()
        return None

    event = wait(anomaly, 20, "an anomaly on disk_used_percent")
    assert event["resource_id"] == "web-1"
    assert event["value"] == 99.0
    message = wait(
        lambda: [r for r in setup.slack.received if "disk_used_percent" in json.dumps(r.body)],
        20,
        "a Slack message about disk_used_percent",
    )
    assert "web-1" in json.dumps(message[0].body)


def test_redis_stopped_mid_stream_loses_nothing_prometheus_scraped(setup: Setup) -> None:
    wait(lambda: setup.streamed("rw_test_value"), 30, "rw_test_value on the stream")
    retried_before = setup.prometheus_metric("prometheus_remote_storage_samples_retried_total")
    setup.store.stop()
    time.sleep(4)  # four scrapes Prometheus cannot deliver: the gateway answers 503
    setup.store.start()
    back = time.time()
    setup.gateway.assert_alive()

    def all_delivered() -> bool:
        stored = {
            at: v for at, v in setup.stored("rw_test_value").items() if at < back * 1000 + 3000
        }
        return (
            bool(stored)
            and max(stored) > back * 1000
            and stored.items() <= setup.streamed("rw_test_value").items()
        )

    wait(all_delivered, 30, "every sample Prometheus scraped on the stream")
    retried = setup.prometheus_metric("prometheus_remote_storage_samples_retried_total")
    assert retried > retried_before, "Prometheus never had to retry: Redis was not down"
    assert setup.prometheus_metric("prometheus_remote_storage_samples_failed_total") == 0
    assert "remote_write_redis_unavailable" in setup.gateway.log_text()

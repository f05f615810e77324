"""``POST /anomaly/train`` with source ``prometheus``: a real detector learns the multivariate
model from history stored in a real Prometheus, reads only servers its allow list names, never
follows a redirect, and refuses a range with more points than it may fetch."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import StackProcess, service, stack_env
from tests.support.prometheus_backfill import MISSING, openmetrics, prometheus_with

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

TOKEN = "test-internal-token"
AUTH = {"X-Internal-Token": TOKEN}
MINUTES = 360
RESOURCES = [f"web-{i}" for i in range(4)]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    """cpu and memory (memory following cpu) of four resources, one sample a minute for six
    hours; yields the URL and the first sample's time."""
    start = float((int(time.time()) // 60 - MINUTES - 10) * 60)
    rng = random.Random(3)
    cpu: dict[str, list[tuple[float, float]]] = {}
    memory: dict[str, list[tuple[float, float]]] = {}
    for n, resource in enumerate(RESOURCES):
        key = f'instance="{resource}",job="node"'
        loads = [rng.uniform(20, 80) for _ in range(MINUTES)]
        cpu[key] = [(start + 60 * i, round(10 * n + x, 3)) for i, x in enumerate(loads)]
        memory[key] = [(start + 60 * i, round(30 + x / 2, 3)) for i, x in enumerate(loads)]
    history = openmetrics("cpu_utilization", cpu).removesuffix("# EOF\n")
    history += openmetrics("memory_utilization", memory)
    with prometheus_with(history, tmp_path_factory.mktemp("prometheus")) as url:
        yield url, start


@pytest.fixture(scope="module")
def redirector(prometheus: tuple[str, float]) -> Iterator[str]:
    """A server that sends every request on to Prometheus with a redirect."""
    target = prometheus[0]

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/redirected"
    server.shutdown()
    server.server_close()


@pytest.fixture
def detector(
    redis_url: str, log_dir: Path, tmp_path: Path, prometheus: tuple[str, float], redirector: str
) -> Iterator[StackProcess]:
    env = stack_env(
        redis_url,
        {
            "SCOPS_INTERNAL_TOKEN": TOKEN,
            "SCOPS_MODEL_DIR": str(tmp_path / "models"),
            "SCOPS_MULTIVARIATE_METRICS": '["cpu_utilization", "memory_utilization"]',
            "SCOPS_TRAIN_SOURCES_ALLOWED_URLS": json.dumps([prometheus[0] + "/", redirector]),
            "SCOPS_TRAIN_SOURCE_MAX_POINTS": "5000",
        },
    )
    process = service("detector", env, log_dir).start().wait_ready()
    yield process
    process.stop()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _source(url: str, start: float, step: float = 60) -> dict[str, Any]:
    return {
        "source": "prometheus",
        "prometheus": {
            "url": url,
            "query": '{__name__=~"cpu_utilization|memory_utilization",job="node"}',
            "start": _iso(start),
            "end": _iso(start + 60 * (MINUTES - 1)),
            "step": step,
        },
    }


def _job(detector: StackProcess, body: dict[str, Any]) -> dict[str, Any]:
    reply = httpx.post(f"{detector.url}/anomaly/train", json=body, headers=AUTH, timeout=30)
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job_id"]
    deadline = time.monotonic() + 40
    while True:
        job: dict[str, Any] = httpx.get(
            f"{detector.url}/anomaly/train/{job_id}", headers=AUTH
        ).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_the_detector_trains_on_history_read_from_prometheus(
    detector: StackProcess, prometheus: tuple[str, float]
) -> None:
    url, start = prometheus
    job = _job(detector, _source(url, start))
    assert job["status"] == "succeeded", job
    assert job["source"] == "prometheus"
    assert job["trained_on"]["resources"] == len(RESOURCES)
    assert job["trained_on"]["samples"] == 2 * len(RESOURCES) * MINUTES
    models = httpx.get(f"{detector.url}/anomaly/models", headers=AUTH).json()
    assert models["active"] == job["version"]


def test_a_server_outside_the_allow_list_is_refused_without_being_asked(
    detector: StackProcess, prometheus: tuple[str, float]
) -> None:
    url, start = prometheus
    port = url.rsplit(":", 1)[1]
    for elsewhere in (
        "http://169.254.169.254/latest/meta-data",
        f"http://localhost:{port}",  # another spelling of the allowed host is another host
        f"{url}/../admin",
        "file:///etc/passwd",
    ):
        body = _source(elsewhere, start)
        reply = httpx.post(f"{detector.url}/anomaly/train", json=body, headers=AUTH)
        assert reply.status_code == 403, (elsewhere, reply.text)


def test_a_redirect_from_an_allowed_server_is_not_followed(
    detector: StackProcess, prometheus: tuple[str, float], redirector: str
) -> None:
    job = _job(detector, _source(redirector, prometheus[1]))
    assert job["status"] == "failed"
    assert "redirect" in job["error"] and "not followed" in job["error"]


def test_a_range_with_more_points_than_allowed_is_refused(
    detector: StackProcess, prometheus: tuple[str, float]
) -> None:
    url, start = prometheus
    reply = httpx.post(
        f"{detector.url}/anomaly/train", json=_source(url, start, step=1), headers=AUTH
    )
    assert reply.status_code == 413, reply.text
    assert "SCOPS_TRAIN_SOURCE_MAX_POINTS=5,000" in reply.json()["detail"]

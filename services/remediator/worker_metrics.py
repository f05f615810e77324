"""Prometheus metrics of the Celery workers, served by each worker's main process.

Tasks run in prefork children, so these counters use prometheus_client's multiprocess mode:
each child writes to files in ``PROMETHEUS_MULTIPROC_DIR`` (``scops worker`` sets it before
anything imports prometheus_client) and the main process serves their sum on
``SCOPS_WORKER_METRICS_PORT``. Only the ``celery_*`` families are served there: the
``remediation_*`` metrics are counted once, by the remediator API, from the records stream.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import structlog
from celery.signals import task_postrun, task_prerun, worker_process_shutdown
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = structlog.get_logger("remediator.worker_metrics")
PREFIX = "celery_"

TASKS = Counter(
    "celery_tasks_total", "Tasks the workers finished, by task and state.", ["task", "state"]
)
TASK_SECONDS = Histogram(
    "celery_task_duration_seconds",
    "Time a worker spent in one task.",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
_started: dict[str, float] = {}
# The labelled children, looked up once per task name and state (a lookup costs more than the
# increment).
_counted: dict[tuple[str, str], Any] = {}
_timed: dict[str, Any] = {}


@task_prerun.connect  # type: ignore[untyped-decorator]
def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@task_postrun.connect  # type: ignore[untyped-decorator]
def _task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    name = getattr(task, "name", "unknown")
    finished = (name, state or "UNKNOWN")
    counter = _counted.get(finished)
    if counter is None:
        counter = _counted[finished] = TASKS.labels(task=name, state=finished[1].lower())
    counter.inc()
    started = _started.pop(task_id or "", None)
    if started is not None:
        timer = _timed.get(name)
        if timer is None:
            timer = _timed[name] = TASK_SECONDS.labels(task=name)
        timer.observe(time.perf_counter() - started)


@worker_process_shutdown.connect  # type: ignore[untyped-decorator]
def _child_gone(**_: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # noqa: TID251 - set by scops worker
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _CeleryOnly(Collector):
    def __init__(self, inner: Collector) -> None:
        self.inner = inner

    def collect(self) -> Iterable[Metric]:
        return [m for m in self.inner.collect() if m.name.startswith(PREFIX)]


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Serve the summed ``celery_*`` metrics of this worker and its children on ``port``."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # noqa: TID251 - set by scops worker
    if not port or not path:
        return
    registry = CollectorRegistry()
    inner = CollectorRegistry()
    multiprocess.MultiProcessCollector(inner, path=path)  # type: ignore[no-untyped-call]
    registry.register(_CeleryOnly(inner))
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # another worker on this host serves the port: run without it
        log.warning("worker_metrics_port_busy", port=port, error=str(exc))
        return
    log.info("worker_metrics_serving", port=port)

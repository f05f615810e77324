"""``scops serve NAME`` and ``scops worker``: run one process of the stack in the foreground."""

from __future__ import annotations

import os
import tempfile

import uvicorn

from scops.processes import ALL_SERVICES


def serve(name: str) -> None:
    service = ALL_SERVICES[name]
    settings = service.settings()
    uvicorn.run(
        service.app,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # the app configures JSON logging itself
        timeout_graceful_shutdown=15,
        # Longer than the gateway keeps an idle connection to a backend (2 s): the client,
        # not the server, ends an idle connection, so no request meets one being closed.
        timeout_keep_alive=15,
    )


def worker(concurrency: int) -> None:
    from services.remediator.config import RemediatorSettings

    settings = RemediatorSettings()
    port = settings.worker_metrics_port
    if port:
        # Before anything imports prometheus_client: the task children count into files here
        # and this process serves their sum.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scops-worker-metrics-")
    from services.remediator import worker_metrics
    from services.remediator.celery_app import app
    from shared.logging import configure_logging
    from shared.tasks import REMEDIATION_QUEUE

    # JSON lines from the first one (Celery configures it again as it starts); no banner.
    configure_logging("remediator-worker", settings.log_level, settings.log_json)
    worker_metrics.serve(port, settings.worker_metrics_host)

    app.worker_main(
        [
            "--quiet",  # celery's own option: no banner
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            f"--queues={REMEDIATION_QUEUE}",
            "--without-gossip",
            "--without-mingle",
        ]
    )

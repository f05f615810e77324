"""``scops serve NAME`` and ``scops worker``: run one process of the stack in the foreground."""

from __future__ import annotations

import uvicorn

from scops.processes import HTTP_SERVICES


def serve(name: str) -> None:
    service = HTTP_SERVICES[name]
    settings = service.settings()
    uvicorn.run(
        service.app,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,  # the app configures JSON logging itself
        timeout_graceful_shutdown=15,
    )


def worker(concurrency: int) -> None:
    from services.remediator.celery_app import app
    from shared.tasks import REMEDIATION_QUEUE

    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            f"--queues={REMEDIATION_QUEUE}",
            "--without-gossip",
            "--without-mingle",
        ]
    )

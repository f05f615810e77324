"""The Celery application of the remediation workers.

Run with ``celery -A services.remediator.celery_app worker``. Tasks acknowledge late and are
rejected (so redelivered) when their worker process dies; the workflow's idempotency claim makes
a redelivery safe.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init

from services.remediator.config import RemediatorSettings
from shared.logging import configure_logging
from shared.tasks import HANDLE_ANOMALY, REMEDIATION_QUEUE


def create_celery(settings: RemediatorSettings) -> Celery:
    celery = Celery("remediator", broker=settings.redis_url, set_as_current=False)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=max(settings.task_time_limit_s - 5, 5),
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        task_default_queue=REMEDIATION_QUEUE,
        task_routes={HANDLE_ANOMALY: {"queue": REMEDIATION_QUEUE}},
    )
    return celery


settings = RemediatorSettings()
app = create_celery(settings)


@setup_logging.connect  # type: ignore[untyped-decorator]
def _configure_logging(**_: Any) -> None:
    configure_logging("remediator-worker", settings.log_level, settings.log_json)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _reset_clients(**_: Any) -> None:
    # Connections must not be shared across the fork of a prefork child.
    from services.remediator import tasks

    tasks.reset_workflow()


app.autodiscover_tasks(["services.remediator"], related_name="tasks", force=True)

"""The remediation workers' Celery configuration (shared by the workers, the API that sends
them work, and the tests)."""

from __future__ import annotations

from celery import Celery

from services.remediator.config import RemediatorSettings
from services.remediator.handling.scheduling import VERIFY_ACTION
from shared.tasks import (
    EXECUTE_REQUEST,
    HANDLE_ANOMALY,
    POLL_COMMAND,
    RECHECK_ANOMALY,
    REMEDIATION_QUEUE,
)


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
        task_routes={
            name: {"queue": REMEDIATION_QUEUE}
            for name in (
                HANDLE_ANOMALY,
                RECHECK_ANOMALY,
                EXECUTE_REQUEST,
                POLL_COMMAND,
                VERIFY_ACTION,
            )
        },
    )
    return celery

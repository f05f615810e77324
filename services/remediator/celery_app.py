"""The Celery application of the remediation workers.

Run with ``celery -A services.remediator.celery_app worker`` (``scops worker`` does). Tasks
acknowledge late and are rejected (so redelivered) when their worker process dies; the
workflow's claims make a redelivery safe.
"""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging

from services.remediator import worker_metrics  # noqa: F401 - connects the task signals
from services.remediator.celery_config import create_celery
from services.remediator.config import RemediatorSettings
from shared.logging import configure_logging

__all__ = ["app", "create_celery", "settings"]

settings = RemediatorSettings()
app = create_celery(settings)


@setup_logging.connect  # type: ignore[untyped-decorator]
def _configure_logging(**_: Any) -> None:
    configure_logging("remediator-worker", settings.log_level, settings.log_json)


# Imported by name, so this module does not import the tasks that import it.
app.autodiscover_tasks(["services.remediator"], related_name="tasks", force=True)

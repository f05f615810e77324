"""Structured logging: one JSON object per line, with the correlation id bound from the edge.

Both structlog loggers and standard-library loggers (uvicorn, celery) go through the same
formatter, so every line of every process has the same shape. Bind ``correlation_id`` with
``structlog.contextvars.bind_contextvars`` where a unit of work starts.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import Processor

from shared.secret_shapes import mask_secret_shapes

#: Loggers of libraries that log secrets below WARNING (see :func:`configure_logging`).
QUIET_LOGGERS = ("httpx", "httpcore", "botocore", "aiobotocore", "boto3", "s3transfer", "urllib3")


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_service(service),
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # Below the configured level a line is dropped first, before any processor runs.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _mask_secret_shapes,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # a library's warning is a log line too, not loose text
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # HTTP and AWS client libraries log what they send and receive: httpx every request's full
    # URL at INFO (a webhook URL is a secret), botocore at DEBUG every request's Authorization
    # header (the access key id) and every answer's body (an assumed role's secret key and
    # session token). Every process keeps them at WARNING whatever SCOPS_LOG_LEVEL says.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _add_service(service: str) -> Processor:
    def processor(
        _logger: object, _method: str, event_dict: structlog.typing.EventDict
    ) -> structlog.typing.EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def _mask_secret_shapes(
    _logger: object, _method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Last line of defence: whatever has the shape of a secret (a Slack webhook path or
    token) is masked in every field, the formatted traceback included."""
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = mask_secret_shapes(value)
    return event_dict

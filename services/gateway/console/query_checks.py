"""The console's list pages check their query themselves: a wrong filter is a 400 page naming
the field, not a page that asks the history (or the index) and says it is unavailable."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import QueryParams

from services.gateway.anomaly_index import valid_cursor
from services.gateway.console.guard import Refused
from shared.events import RemediationStatus, Severity
from shared.incidents import (
    INCIDENT_CURSOR_MAX,
    INCIDENT_CURSOR_PATTERN,
    IncidentKind,
    IncidentStatus,
)

MAX_NAME = 256
ANOMALY_CURSOR_MAX = 64  # as `GET /anomalies` takes it
SEVERITIES = tuple(s.value for s in Severity)
INCIDENT_STATUSES = (*(s.value for s in IncidentStatus), "any")
KINDS = tuple(k.value for k in IncidentKind)
OUTCOMES = tuple(s.value for s in RemediationStatus)


def one_of(params: QueryParams, name: str, allowed: Iterable[str]) -> str | None:
    """The field's value if it is one of ``allowed`` (blank: None), else a 400 page."""
    value = params.get(name, "").strip()
    if not value:
        return None
    choices = tuple(allowed)
    if value not in choices:
        raise Refused(400, f"{name}: {value[:40]!r} is not one of {', '.join(choices)}")
    return value


def text(params: QueryParams, name: str, max_chars: int = MAX_NAME) -> str | None:
    """A free-text field, at most ``max_chars`` long and without control characters."""
    value = params.get(name, "").strip()
    if not value:
        return None
    if len(value) > max_chars:
        raise Refused(400, f"{name}: at most {max_chars} characters ({len(value)} given)")
    if any(ord(c) < 32 for c in value):
        raise Refused(400, f"{name}: no control characters")
    return value


def incident_cursor(params: QueryParams) -> str | None:
    """A ``next_cursor`` the history gave out: the (time, id) of the last incident shown."""
    value = params.get("cursor", "").strip()
    if not value:
        return None
    if len(value) > INCIDENT_CURSOR_MAX or not re.fullmatch(INCIDENT_CURSOR_PATTERN, value):
        raise Refused(400, "cursor: not a cursor of this list; follow the 'Older incidents' link")
    return value


def anomaly_cursor(params: QueryParams) -> str | None:
    """A ``next_cursor`` the anomaly index gave out: where the last page shown stopped."""
    value = params.get("cursor", "").strip()
    if not value:
        return None
    if len(value) > ANOMALY_CURSOR_MAX or not valid_cursor(value):
        raise Refused(400, "cursor: not a cursor of this list; follow the 'Older anomalies' link")
    return value

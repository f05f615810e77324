"""Page cursors (no I/O): the position after the last item of a page, in a documented pattern.

An incident page is ordered newest first by (opened_at, id); its cursor carries both. An audit
page is ordered by the order records were stored; its cursor carries that row number.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from shared.incidents import INCIDENT_CURSOR_PATTERN

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# An audit cursor is a row number below 10^18 (a 64-bit integer): the documents say so.
AUDIT_CURSOR_PATTERN = r"^[0-9]{1,18}$"


class CursorError(ValueError):
    """Not a cursor this service gave out."""


_INCIDENT_CURSOR = re.compile(INCIDENT_CURSOR_PATTERN)
_AUDIT_CURSOR = re.compile(AUDIT_CURSOR_PATTERN)


def incident_cursor(opened_at: datetime, incident_id: uuid.UUID) -> str:
    micros = (opened_at.astimezone(UTC) - EPOCH) // MICROSECOND
    return f"{micros}_{incident_id.hex}"


def read_incident_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    if _INCIDENT_CURSOR.fullmatch(cursor) is None:
        raise CursorError("not a cursor of this list: pass next_cursor as given")
    micros, _, ident = cursor.partition("_")
    return EPOCH + int(micros) * MICROSECOND, uuid.UUID(hex=ident)


def audit_cursor(row: int) -> str:
    return str(row)


def read_audit_cursor(cursor: str) -> int:
    if _AUDIT_CURSOR.fullmatch(cursor) is None:
        raise CursorError("not a cursor of this list: pass next_cursor as given")
    return int(cursor)

"""Opaque page cursors (no I/O): the position after the last item of a page.

An incident page is ordered newest first by (opened_at, id); its cursor carries both. An audit
page is ordered by the order records were stored; its cursor carries that row number.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# An audit cursor is a row number below 10^18 (a 64-bit integer): the documents say so.
AUDIT_CURSOR_PATTERN = r"^[0-9]{1,18}$"


class CursorError(ValueError):
    """Not a cursor this service gave out."""


def incident_cursor(opened_at: datetime, incident_id: uuid.UUID) -> str:
    micros = (opened_at.astimezone(UTC) - EPOCH) // MICROSECOND
    raw = f"{micros}/{incident_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_incident_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        micros, _, ident = base64.urlsafe_b64decode(padded).decode().partition("/")
        moment = EPOCH + int(micros) * MICROSECOND
        return moment, uuid.UUID(ident)
    except (ValueError, binascii.Error, OverflowError, OSError, UnicodeDecodeError):
        raise CursorError("not a cursor of this list: pass next_cursor as given") from None


def audit_cursor(row: int) -> str:
    return str(row)


def read_audit_cursor(cursor: str) -> int:
    if re.fullmatch(AUDIT_CURSOR_PATTERN.removeprefix("^").removesuffix("$"), cursor) is None:
        raise CursorError("not a cursor of this list: pass next_cursor as given")
    return int(cursor)

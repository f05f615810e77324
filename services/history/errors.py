"""The history's errors. Only the app maps them to HTTP problems (``app.py``).

HistoryError
├── IncidentNotFoundError   no incident with that id (never recorded, or past retention)
└── BadCursorError          a cursor this service did not give out
"""

from __future__ import annotations


class HistoryError(Exception):
    """Base of the history's errors."""


class IncidentNotFoundError(HistoryError):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"no incident {incident_id} (never recorded, or past retention)")


class BadCursorError(HistoryError):
    """``str(exc)`` says what was wrong; the field is ``cursor``."""

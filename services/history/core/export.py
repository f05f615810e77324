"""Export formats (no I/O): JSON lines (one object a line, everything) and CSV (one row a
line, the columns people sort and filter on).

A CSV cell that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) is written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from shared.events import RemediationRecord
from shared.incidents import IncidentSummary

INCIDENT_COLUMNS = (
    "id",
    "kind",
    "resource_id",
    "metric",
    "severity",
    "status",
    "opened_at",
    "detected_at",
    "resolved_at",
    "last_event_at",
    "rule",
    "action",
    "action_outcome",
    "events",
    "explanation",
    "labels",
)
AUDIT_COLUMNS = (
    "occurred_at",
    "event_id",
    "anomaly_id",
    "resource_id",
    "metric",
    "severity",
    "rule",
    "action",
    "status",
    "blocked_by",
    "decided_by",
    "votes",  # each approval and the rejection: who, via, when (records 1.5 on)
    "executor",
    "target",
    "exit_code",
    "reason",
    "output_excerpt",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def json_line(model: BaseModel) -> str:
    return model.model_dump_json() + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_rows(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def incident_row(incident: IncidentSummary) -> list[Any]:
    values = incident.model_dump(mode="json")
    return [values.get(c) for c in INCIDENT_COLUMNS]


def audit_row(record: RemediationRecord) -> list[Any]:
    values = record.model_dump(mode="json")
    return [values.get(c) for c in AUDIT_COLUMNS]

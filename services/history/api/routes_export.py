"""Exports of incidents and of the audit log, as JSON lines or CSV, streamed page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.history.api.params import AuditQuery, IncidentQuery
from services.history.core.export import (
    AUDIT_COLUMNS,
    INCIDENT_COLUMNS,
    audit_row,
    csv_rows,
    incident_row,
    json_line,
)
from services.history.deps import ReaderDep

router = APIRouter(prefix="/export", tags=["export"])


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


MEDIA = {ExportFormat.JSONL: "application/x-ndjson", ExportFormat.CSV: "text/csv"}
FILE_BODY: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file: one JSON object a line (jsonl), or a header and one row a "
        "line (csv).",
        "content": {
            MEDIA[ExportFormat.JSONL]: {"schema": {"type": "string"}},
            MEDIA[ExportFormat.CSV]: {"schema": {"type": "string"}},
        },
    }
}
Format = Annotated[ExportFormat, Query(description="jsonl (everything) or csv (the columns).")]


def _file(chunks: AsyncIterator[str], fmt: ExportFormat, name: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.value}"'},
    )


@router.get(
    "/incidents",
    summary="Every incident matching the filters, as JSON lines (with timelines) or CSV",
    response_class=StreamingResponse,
    responses=FILE_BODY,
)
async def export_incidents(
    reader: ReaderDep,
    where: IncidentQuery,
    format: Format = ExportFormat.JSONL,
) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        if format == ExportFormat.CSV:
            yield csv_rows([INCIDENT_COLUMNS])
        async for incident in reader.each_incident(where, timelines=format == ExportFormat.JSONL):
            if format == ExportFormat.CSV:
                yield csv_rows([incident_row(incident)])
            else:
                yield json_line(incident)

    return _file(lines(), format, "incidents")


@router.get(
    "/audit",
    summary="Every remediation record matching the filters, as JSON lines or CSV",
    response_class=StreamingResponse,
    responses=FILE_BODY,
)
async def export_audit(
    reader: ReaderDep,
    where: AuditQuery,
    format: Format = ExportFormat.JSONL,
) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        if format == ExportFormat.CSV:
            yield csv_rows([AUDIT_COLUMNS])
        async for record in reader.each_record(where):
            yield csv_rows([audit_row(record)]) if format == ExportFormat.CSV else json_line(record)

    return _file(lines(), format, "audit")

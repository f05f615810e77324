"""The audit log: every remediation record, from the database (no scan limit)."""

from __future__ import annotations

from fastapi import APIRouter

from services.history.api.params import AuditCursor, AuditQuery, Limit
from services.history.deps import ReaderDep
from shared.incidents import AuditPage

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="The audit log: every remediation decision, newest first")
async def audit(
    reader: ReaderDep, where: AuditQuery, limit: Limit = 50, cursor: AuditCursor = None
) -> AuditPage:
    return await reader.audit(where, limit, cursor)

"""Incidents: the list with its filters, and one incident with its whole timeline."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.history.api.params import IncidentCursor, IncidentQuery, Limit
from services.history.deps import ReaderDep
from services.history.errors import IncidentNotFoundError
from shared.incidents import Incident, IncidentPage
from shared.web import problem_responses

router = APIRouter(prefix="/incidents", tags=["incidents"])


@router.get("", summary="Incidents, newest first, by resource, severity, status, time, rule...")
async def list_incidents(
    reader: ReaderDep, where: IncidentQuery, limit: Limit = 50, cursor: IncidentCursor = None
) -> IncidentPage:
    return await reader.incidents(where, limit, cursor)


@router.get(
    "/{incident_id}",
    summary="One incident with its whole timeline, oldest step first",
    description="The id is the incident's (the anomaly event that opened the episode) or that "
    "of an escalation or a remediation record of it: the answer's "
    "`id` is the incident's.",
    responses=problem_responses(404),
)
async def get_incident(reader: ReaderDep, incident_id: uuid.UUID) -> Incident:
    incident = await reader.incident(incident_id)
    if incident is None:
        raise IncidentNotFoundError(str(incident_id))
    return incident

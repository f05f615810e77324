"""Dependencies of the routes: the remediator's parts, and the internal token that mutating
endpoints require (compared in constant time, :func:`shared.web.require_internal_token`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.remediator.wiring import Remediator
from shared.web import require_internal_token


def get_remediator(request: Request) -> Remediator:
    remediator: Remediator = request.app.state.remediator
    return remediator


def get_correlation_id(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "") or "")


RemediatorDep = Annotated[Remediator, Depends(get_remediator)]
CorrelationDep = Annotated[str, Depends(get_correlation_id)]
INTERNAL = [Depends(require_internal_token)]

"""Dependencies of the routes: the collector's parts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.collector.wiring import CollectorService


def get_collector(request: Request) -> CollectorService:
    service: CollectorService = request.app.state.collector
    return service


CollectorDep = Annotated[CollectorService, Depends(get_collector)]

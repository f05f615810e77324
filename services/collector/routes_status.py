"""``GET /collector/status``: what is collected from where, and how the last poll went."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.collector.deps import CollectorDep

router = APIRouter(prefix="/collector", tags=["collector"])


class TargetStatus(BaseModel):
    account: str | None = Field(description="Account id (None: the collector's own).")
    region: str
    series: int = Field(description="CloudWatch series collected here.")
    last_error: str | None = Field(description="Why the last poll failed (None: it did not).")


class CollectorStatus(BaseModel):
    enabled: bool = Field(description="Whether any AWS account is configured.")
    last_poll: datetime | None
    targets: list[TargetStatus]


@router.get("/status", summary="Accounts and regions polled, series found, last errors")
async def status(service: CollectorDep) -> CollectorStatus:
    collector = service.collector
    return CollectorStatus(
        enabled=service.settings.enabled,
        last_poll=collector.last_poll,
        targets=[
            TargetStatus(
                account=t.account, region=t.region, series=len(t.series), last_error=t.last_error
            )
            for t in collector.targets
        ],
    )

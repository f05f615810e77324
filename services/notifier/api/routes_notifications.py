"""What was sent, what waits, what failed; replaying dead letters. No response ever holds a
webhook URL."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.notifier.config import DEFAULT_RECEIVER
from services.notifier.core.alerts import MessageKind
from services.notifier.deps import INTERNAL, NotifierDep
from services.notifier.history import DeliveryRecord, DeliveryStatus
from services.notifier.metrics import DEAD_LETTER_SIZE
from shared.identifiers import StreamEntryId, WholeNumber
from shared.web import problem_responses

router = APIRouter(prefix="/notifications", tags=["notifications"])
Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("", summary="Recent deliveries with their status, newest first")
async def recent(
    notifier: NotifierDep,
    limit: Limit = 50,
    status: DeliveryStatus | None = None,
    kind: MessageKind | None = None,
) -> list[DeliveryRecord]:
    return await notifier.history.recent(limit, status, kind)


@router.get("/outbox", summary="Messages kept locally (no webhook configured), newest first")
async def outbox(notifier: NotifierDep, limit: Limit = 50) -> list[dict[str, Any]]:
    return await notifier.history.outbox(limit)


@router.get("/groups", summary="Alert groups held, the soonest to speak first")
async def groups(notifier: NotifierDep, limit: Limit = 200) -> list[dict[str, Any]]:
    return await notifier.groups.summary(limit)


@router.get("/dead-letter", summary="Messages that could not be delivered, newest first")
async def dead_letters(notifier: NotifierDep, limit: Limit = 50) -> dict[str, Any]:
    letters = await notifier.dead_letters.recent(limit)
    size = await notifier.dead_letters.size()
    return {"size": size, "items": [letter.summary() for letter in letters]}


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt entry_ids must not replay the oldest
    entry_ids: list[StreamEntryId] | None = Field(
        None, max_length=1000, description="Dead letters to resend; unset: the oldest `limit`."
    )
    limit: WholeNumber = Field(100, ge=1, le=10_000)


class ReplayResult(BaseModel):
    replayed: int
    message_ids: list[str]
    remaining: int


@router.post(
    "/dead-letter/replay",
    dependencies=INTERNAL,
    summary="Send dead letters again (internal token)",
    responses=problem_responses(401),
)
async def replay(notifier: NotifierDep, body: ReplayRequest | None = None) -> ReplayResult:
    request = body or ReplayRequest()
    ids = await notifier.dead_letters.replay(
        request.entry_ids, request.limit, set(notifier.receivers), DEFAULT_RECEIVER
    )
    remaining = await notifier.dead_letters.size()
    DEAD_LETTER_SIZE.set(remaining)
    return ReplayResult(replayed=len(ids), message_ids=ids, remaining=remaining)

"""Silences (mute what matches, for a while) and acknowledgements (stop an alert's repeats):
what the gateway calls when someone presses Silence or Acknowledge in Slack."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.notifier.core.silences import Silence, SilenceMatchers
from services.notifier.deps import INTERNAL, NotifierDep
from shared.events import UtcDatetime, utcnow
from shared.identifiers import NamePattern, ShownText, whole_json_number
from shared.schema_alternatives import exactly_one_of
from shared.web import problem_responses

router = APIRouter(prefix="/notifications", tags=["silences"])
MAX_SILENCE_S = 30 * 24 * 3600
# A silence that ended before it was asked for mutes nothing, and (never active) could be
# neither listed nor ended: refused.
ALREADY_OVER = "the silence would be already over: it must end after now"
REQUEST_ID = r"^[A-Za-z0-9._:-]{1,128}$"


class RequestedMatchers(SilenceMatchers):
    """What a request may match: globs as strict as the names they match (stored silences keep
    the tolerant :class:`SilenceMatchers`, so one saved before this rule still loads)."""

    resource: NamePattern = Field("*", max_length=300, description="Glob on the resource id.")
    metric: NamePattern = Field("*", max_length=200, description="Glob on the metric name.")


def _silence_examples(schema: dict[str, Any]) -> None:
    schema["examples"] = [
        {
            "matchers": {"resource": "web-*"},
            "duration_s": 3600,
            "created_by": "ana",
            "comment": "planned load test",
        },
        {
            "matchers": {"resource": "web-1", "metric": "cpu_utilization"},
            "duration_s": 3600,
            "created_by": "ana (slack U012AB3CD)",
            "comment": "from Slack",
            "request_id": "slack-click:0f9c2a4e-8d1b-4c6e-9a7f-3b2d1e0c5a61",
        },
    ]


# Bounds inside the number's type, where the document states them (minimum, maximum).
SilenceSeconds = Annotated[
    int, Field(ge=60, le=MAX_SILENCE_S), BeforeValidator(whole_json_number), Strict()
]


class SilenceRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=exactly_one_of(("duration_s",), ("ends_at",), then=_silence_examples),
    )
    matchers: RequestedMatchers
    starts_at: UtcDatetime | None = None  # before the ends: they are checked against it
    duration_s: SilenceSeconds | None = Field(
        None, description="From now (or starts_at); or give ends_at."
    )
    ends_at: UtcDatetime | None = Field(
        None, description="After starts_at (or after now, without starts_at)."
    )
    created_by: ShownText = Field(min_length=1, max_length=128, examples=["ana"])
    comment: ShownText = Field("", max_length=500, examples=["planned load test"])
    request_id: str | None = Field(
        None,
        pattern=REQUEST_ID,
        description="The caller's key for this request (a retry after a timeout, a Slack click "
        "applied again): sent again with the same key within 7 days, the request answers the "
        "silence the first one created and creates none.",
        examples=["slack-click:0f9c2a4e-8d1b-4c6e-9a7f-3b2d1e0c5a61"],
    )

    @field_validator("ends_at")
    @classmethod
    def _a_while(cls, ends_at: datetime | None, info: ValidationInfo) -> datetime | None:
        """After its start (now when starts_at is not given), and no longer than a
        ``duration_s`` may be."""
        starts = info.data.get("starts_at") or utcnow()
        if ends_at is None:
            return None
        if ends_at <= starts:
            raise ValueError("must be after starts_at (or after now, without starts_at)")
        if ends_at - starts > timedelta(seconds=MAX_SILENCE_S):
            raise ValueError(f"at most {MAX_SILENCE_S // 86400} days after starts_at")
        if ends_at <= utcnow():
            raise ValueError(ALREADY_OVER)
        return ends_at

    @field_validator("duration_s")
    @classmethod
    def _not_over(cls, duration_s: int | None, info: ValidationInfo) -> int | None:
        """A silence from a past starts_at must last until after now."""
        starts = info.data.get("starts_at")
        if duration_s is None or starts is None:
            return duration_s
        try:
            ends = starts + timedelta(seconds=duration_s)
        except OverflowError:
            raise ValueError("starts_at + duration_s is past year 9999") from None
        if ends <= utcnow():
            raise ValueError(ALREADY_OVER)
        return duration_s

    @model_validator(mode="after")
    def _one_end(self) -> SilenceRequest:
        if (self.duration_s is None) == (self.ends_at is None):
            raise ValueError("give either duration_s or ends_at")
        return self  # (a starts_at + duration_s past year 9999 is refused as duration_s)

    def silence(self) -> Silence:
        starts = self.starts_at or utcnow()
        ends = self.ends_at or starts + timedelta(seconds=self.duration_s or 0)
        return Silence(
            matchers=SilenceMatchers(**self.matchers.model_dump()),
            starts_at=starts,
            ends_at=ends,
            created_by=self.created_by,
            comment=self.comment,
        )


@router.get("/silences", summary="Active and future silences")
async def list_silences(notifier: NotifierDep) -> list[Silence]:
    return await notifier.silences.all()


@router.post(
    "/silences",
    status_code=status.HTTP_201_CREATED,
    dependencies=INTERNAL,
    summary="Silence what matches, for a while (internal token)",
    description="Once per `request_id` when one is given: a request sent again with the same "
    "`request_id` answers the silence the first created (as created) and creates none.",
    responses=problem_responses(401),
)
async def create_silence(body: SilenceRequest, notifier: NotifierDep) -> Silence:
    return await notifier.silences.add(body.silence(), body.request_id)


@router.delete(
    "/silences/{silence_id}",
    dependencies=INTERNAL,
    summary="End a silence now (internal token)",
    responses=problem_responses(401, 404),
)
async def end_silence(
    silence_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], notifier: NotifierDep
) -> Silence:
    return await notifier.silences.expire(silence_id)


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra=exactly_one_of(("resource_id", "metric"), ("group_id",))
    )
    by: ShownText = Field(min_length=1, max_length=128, examples=["ana"])
    resource_id: str | None = Field(None, max_length=256, examples=["web-1"])
    metric: str | None = Field(None, max_length=128, examples=["cpu_utilization"])
    group_id: str | None = Field(None, pattern=r"^[0-9a-f]{24}$")

    @model_validator(mode="after")
    def _what(self) -> AcknowledgeRequest:
        alert = self.resource_id is not None and self.metric is not None
        if alert == (self.group_id is not None):
            raise ValueError("give resource_id and metric, or group_id")
        return self


class AcknowledgeResult(BaseModel):
    acknowledged: int = Field(description="Firing alerts that will not be repeated.")


@router.post(
    "/acknowledgements",
    dependencies=INTERNAL,
    summary="Acknowledge an alert or a group: no more reminders (internal token)",
    responses=problem_responses(401, 404),
)
async def acknowledge(body: AcknowledgeRequest, notifier: NotifierDep) -> AcknowledgeResult:
    count = await notifier.groups.acknowledge(
        body.by, resource_id=body.resource_id, metric=body.metric, group_id=body.group_id
    )
    return AcknowledgeResult(acknowledged=count)

"""Silences: mute what matches, for a while (no I/O).

A silence without ``kinds`` mutes every kind of message except approval requests: an action
waiting for a human is never hidden by a silence meant for noise. List ``approval`` in
``kinds`` to mute those too.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.notifier.core.alerts import MessageKind
from services.notifier.core.routing import Subject
from shared.events import Severity, UtcDatetime, utcnow


class SilenceMatchers(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    resource: str = Field("*", max_length=300, description="Glob on the resource id.")
    metric: str = Field("*", max_length=200, description="Glob on the metric name.")
    severities: list[Severity] | None = None
    kinds: list[MessageKind] | None = Field(
        None, description="Kinds muted; unset: every kind except approval requests."
    )

    def matches(self, subject: Subject) -> bool:
        if self.kinds is None:
            if subject.kind == MessageKind.APPROVAL:
                return False
        elif subject.kind not in self.kinds:
            return False
        if self.severities is not None and subject.severity not in self.severities:
            return False
        return fnmatchcase(subject.resource_id, self.resource) and fnmatchcase(
            subject.metric, self.metric
        )


class Silence(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    matchers: SilenceMatchers
    starts_at: UtcDatetime = Field(default_factory=utcnow)
    ends_at: UtcDatetime
    created_by: str = Field(min_length=1, max_length=128)
    comment: str = Field("", max_length=500)
    created_at: UtcDatetime = Field(default_factory=utcnow)

    @model_validator(mode="after")
    def _ends_after_start(self) -> Silence:
        # Equal is allowed: a silence ended before it began keeps its place in the record
        # (both times are when it was ended) and mutes nothing. A request for a new silence
        # must end after it starts (the API refuses an empty one).
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at must not be before starts_at")
        return self

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, subject: Subject, now: datetime) -> bool:
        return self.active(now) and self.matchers.matches(subject)


def muted(silences: list[Silence], subject: Subject, now: datetime) -> bool:
    return any(s.mutes(subject, now) for s in silences)

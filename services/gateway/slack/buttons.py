"""The notifier's buttons as the gateway reads them: ``action_id`` and the JSON ``value``
(docs/notifier.md; ``"v": 1``, unknown fields ignored, a breaking change bumps ``v``).
Declared here, not imported: services share contracts through documents, not code."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SILENCE_S = 3600


class ActionId(StrEnum):
    ANOMALY_ACKNOWLEDGE = "scops.anomaly.acknowledge"
    ANOMALY_FALSE_POSITIVE = "scops.anomaly.false_positive"
    ANOMALY_SILENCE = "scops.anomaly.silence"
    GROUP_ACKNOWLEDGE = "scops.group.acknowledge"
    GROUP_SILENCE = "scops.group.silence"
    APPROVAL_APPROVE = "scops.approval.approve"
    APPROVAL_REJECT = "scops.approval.reject"


class _Value(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1]


class AnomalyButton(_Value):
    anomaly_id: str = Field(pattern=r"^[0-9a-fA-F\-]{32,36}$")
    resource_id: str = Field(max_length=256)
    metric: str = Field(max_length=128)
    severity: str = ""
    correlation_id: str = Field("", max_length=128)
    silence_s: int | None = Field(None, ge=60, le=30 * 86400)
    silence: dict[str, str] | None = None


class GroupButton(_Value):
    group_id: str = Field(max_length=64)
    receiver: str = Field("", max_length=64)
    alerts: int = 0
    silence_s: int | None = Field(None, ge=60, le=30 * 86400)
    silence: dict[str, str | list[str]] | None = None


class ApprovalButton(_Value):
    approval_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    action: str | None = Field(None, max_length=100)
    resource_id: str = Field("", max_length=256)
    run_id: str | None = None
    anomaly_id: str = ""
    correlation_id: str = Field("", max_length=128)


class User(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    username: str = ""
    name: str = ""
    team_id: str = ""


class Team(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field("", max_length=64)


class Clicked(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action_id: str
    value: str = Field("", max_length=2000)


class BlockActions(BaseModel):
    """The parts of Slack's ``block_actions`` payload used here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["block_actions"]
    user: User
    team: Team | None = None
    actions: list[Clicked] = Field(min_length=1)
    response_url: str | None = None
    message: dict[str, object] | None = None


def glob_literal(text: str) -> str:
    """A glob that matches ``text`` only (``*``, ``?`` and ``[`` taken literally)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)

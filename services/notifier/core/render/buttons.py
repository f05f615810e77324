"""The buttons' ``action_id`` and ``value``: the contract with the gateway, which receives
Slack's interaction payloads (documented in docs/notifier.md).

Every value is compact JSON with ``"v": 1``; a new field is added without changing ``v``, a
breaking change bumps it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.notifier.core.render.text import BUTTON_VALUE_MAX
from shared.events import Severity

SILENCE_BUTTON_S = 3600


class ActionId(StrEnum):
    ANOMALY_ACKNOWLEDGE = "scops.anomaly.acknowledge"
    ANOMALY_FALSE_POSITIVE = "scops.anomaly.false_positive"
    ANOMALY_SILENCE = "scops.anomaly.silence"
    GROUP_ACKNOWLEDGE = "scops.group.acknowledge"
    GROUP_SILENCE = "scops.group.silence"
    APPROVAL_APPROVE = "scops.approval.approve"
    APPROVAL_REJECT = "scops.approval.reject"


class ButtonValue(BaseModel):
    model_config = ConfigDict(frozen=True)

    v: Literal[1] = 1

    def encode(self) -> str:
        text = self.model_dump_json(exclude_none=True)
        if len(text) > BUTTON_VALUE_MAX:  # cannot happen with the field limits below
            raise ValueError(f"button value of {len(text)} characters")
        return text


class AnomalyButton(ButtonValue):
    """Acknowledge, False positive (the detector's feedback endpoint takes ``anomaly_id``) and
    Silence (``silence`` is the silence to create, ``silence_s`` its length)."""

    anomaly_id: str
    resource_id: str = Field(max_length=256)
    metric: str = Field(max_length=128)
    severity: Severity
    correlation_id: str = Field(max_length=128)
    silence_s: int | None = None
    silence: dict[str, str] | None = None


class GroupButton(ButtonValue):
    """Acknowledge every alert of a group, or silence what the group matches."""

    group_id: str
    receiver: str = Field(max_length=64)
    alerts: int
    silence_s: int | None = None
    silence: dict[str, str | list[str]] | None = None


class ApprovalButton(ButtonValue):
    """Approve or reject: the remediator's ``/remediation/approvals/{approval_id}/...``."""

    approval_id: str = Field(max_length=64)
    action: str | None = Field(None, max_length=100)
    resource_id: str = Field(max_length=256)
    run_id: str | None = Field(None, max_length=64)
    anomaly_id: str
    correlation_id: str = Field(max_length=128)


def glob_literal(text: str) -> str:
    """A glob that matches ``text`` only (``*``, ``?`` and ``[`` taken literally)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)

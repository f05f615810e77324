"""The contract of the buttons on Slack messages: written by the notifier, read back by the
gateway when Slack posts the click (docs/notifier.md).

Each button has an ``action_id`` (:class:`ActionId`) and a ``value``: compact JSON with
``"v": 1``. A new field is added without changing ``v`` (readers ignore fields they do not
know, so a message posted by a newer notifier still works); a breaking change bumps it. The
value arrives back from Slack, so the reader treats it as outside input: every field is
bounded, and the ids have the exact shape their owners give them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events import Severity

BUTTON_VALUE_MAX = 2000  # Slack's limit on a button's value
SILENCE_BUTTON_S = 3600  # what a Silence button asks for
SILENCE_MIN_S = 60
SILENCE_MAX_S = 30 * 86400

UUID_TEXT = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
APPROVAL_ID = r"^[0-9a-f]{32}$"  # the remediator's approval ids: a UUID's 32 hex digits
GROUP_ID = r"^[0-9a-f]{1,64}$"  # the notifier's group ids: a hash's hex digits

SilenceSeconds = Field(None, ge=SILENCE_MIN_S, le=SILENCE_MAX_S)


# The approval message's header says "<emoji> Approval needed: <action> on <target>" and its
# fields include "Expires": once the approval is decided, the gateway replaces both (the message
# then reads as decided, by whom, with no expiry).
APPROVAL_NEEDED = "Approval needed"
EXPIRES_FIELD = "Expires"


class ActionId(StrEnum):
    ANOMALY_ACKNOWLEDGE = "scops.anomaly.acknowledge"
    ANOMALY_FALSE_POSITIVE = "scops.anomaly.false_positive"
    ANOMALY_SILENCE = "scops.anomaly.silence"
    GROUP_ACKNOWLEDGE = "scops.group.acknowledge"
    GROUP_SILENCE = "scops.group.silence"
    APPROVAL_APPROVE = "scops.approval.approve"
    APPROVAL_REJECT = "scops.approval.reject"


class ButtonValue(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    v: Literal[1] = 1

    def encode(self) -> str:
        """The compact JSON put in the button (fields left unset are left out)."""
        text = self.model_dump_json(exclude_none=True)
        if len(text) > BUTTON_VALUE_MAX:  # cannot happen with the field limits below
            raise ValueError(f"button value of {len(text)} characters")
        return text


class AnomalyButton(ButtonValue):
    """Acknowledge, False positive (the detector's feedback takes ``anomaly_id``) and Silence
    (``silence`` is the silence to create, ``silence_s`` its length)."""

    anomaly_id: str = Field(pattern=UUID_TEXT)
    resource_id: str = Field(min_length=1, max_length=256)
    metric: str = Field(min_length=1, max_length=128)
    severity: Severity
    correlation_id: str = Field(max_length=128)
    silence_s: int | None = SilenceSeconds
    silence: dict[str, str] | None = Field(None, max_length=16)


class GroupButton(ButtonValue):
    """Acknowledge every alert of a group, or silence what the group matches."""

    group_id: str = Field(pattern=GROUP_ID)
    receiver: str = Field(max_length=64)
    alerts: int = Field(ge=0)
    silence_s: int | None = SilenceSeconds
    silence: dict[str, str | list[str]] | None = Field(None, max_length=16)


class ApprovalButton(ButtonValue):
    """Approve or reject: the remediator's ``/remediation/approvals/{approval_id}/...``."""

    approval_id: str = Field(pattern=APPROVAL_ID)
    action: str | None = Field(None, max_length=100)
    resource_id: str = Field(max_length=256)
    run_id: str | None = Field(None, max_length=64)
    anomaly_id: str = Field(pattern=UUID_TEXT)
    correlation_id: str = Field(max_length=128)


def glob_literal(text: str) -> str:
    """A silence glob that matches ``text`` only (``*``, ``?`` and ``[`` taken literally)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)

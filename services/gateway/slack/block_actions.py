"""The parts of Slack's ``block_actions`` payload the gateway reads (the buttons' own values
are the contract in :mod:`shared.slack_buttons`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.slack_buttons import BUTTON_VALUE_MAX


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
    value: str = Field("", max_length=BUTTON_VALUE_MAX)


class BlockActions(BaseModel):
    """The parts of Slack's ``block_actions`` payload used here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["block_actions"]
    user: User
    team: Team | None = None
    enterprise: Team | None = None  # the Enterprise Grid org, when the workspace is in one
    actions: list[Clicked] = Field(min_length=1)
    response_url: str | None = None
    message: dict[str, object] | None = None

"""What ChatOps answers, and to whom (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from services.gateway.api_keys import Role
from services.gateway.chatops.intents import ChatIntent


@dataclass(frozen=True)
class NotUnderstood:
    """Nothing matched; ``hint`` says what was missing when a command was recognised.
    ``refusal`` is set when a command was recognised with a value outside its range: that is
    the answer, and no other reading is tried (a nearby value is never proposed instead)."""

    hint: str | None = None
    refusal: str | None = None


class Outcome(StrEnum):
    ANSWERED = "answered"  # a question answered
    ACCEPTED = "accepted"  # a command handed to the service that carries it out
    REFUSED = "refused"  # nothing done: role, safety rule, unknown or decided approval
    NOT_UNDERSTOOD = "not_understood"
    CONFIRM = "confirm"  # an action understood from free words: send it back to do it
    CLARIFY = "clarify"  # not sure: the likeliest readings, each as a command to send
    UNAVAILABLE = "unavailable"  # a service needed could not be reached or lacks the API


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    markup: str = ""  # the end of ``text`` the gateway wrote as mrkdwn itself (links)


@dataclass(frozen=True)
class Asker:
    user: str  # whose history: "key:<id>" or "slack:<team id>:<user id>"
    who: str  # as the services record who asked or decided
    role: Role


@dataclass(frozen=True)
class Reply:
    intent: ChatIntent | None
    understood_by: str | None  # "parser", "classifier", "llm" or None
    answer: Answer

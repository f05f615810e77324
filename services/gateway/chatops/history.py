"""Each user's ChatOps conversation in Redis: the last ``turns`` exchanges, forgotten
``ttl_s`` after the last one. A user is an API key (``key:<id>``) or a Slack user
(``slack:<team or org id>:<user id>``); nobody reads or clears another's history."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from redis.asyncio import Redis

from services.gateway.chatops.intents import ChatIntent
from services.gateway.chatops.replies import Reply
from shared.events import UtcDatetime, utcnow
from shared.streams import PREFIX


def history_key(user: str) -> str:
    return f"{PREFIX}:{{chatops}}:history:{user}"


class Turn(BaseModel):
    at: UtcDatetime = Field(default_factory=utcnow)
    channel: str = Field(description="api or slack")
    query: str
    intent: dict[str, Any] | None = Field(description="What was understood, if anything.")
    understood_by: str | None
    outcome: str
    answer: str


class ChatHistory:
    def __init__(self, redis: Redis, turns: int, ttl_s: int) -> None:
        self.redis = redis
        self.turns = turns
        self.ttl_s = ttl_s

    async def add(self, user: str, turn: Turn) -> None:
        key = history_key(user)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, turn.model_dump_json())
            pipe.ltrim(key, 0, self.turns - 1)
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def recent(self, user: str, limit: int) -> list[Turn]:
        """Newest first."""
        rows = await self.redis.lrange(history_key(user), 0, limit - 1)
        return [Turn.model_validate(json.loads(row)) for row in rows]

    async def clear(self, user: str) -> int:
        """How many turns were forgotten."""
        key = history_key(user)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.llen(key)
            pipe.delete(key)
            count, _ = await pipe.execute()
        return int(count)


PROPOSAL_FRESH_S = 300


class Proposals:
    """The command ChatOps last proposed to a user (a ``confirm`` answer), read back from
    their conversation: what "yes" confirms, for ``PROPOSAL_FRESH_S`` after it was made and
    only if nothing was said since."""

    def __init__(self, history: ChatHistory) -> None:
        self.history = history

    async def take(self, user: str) -> str | Literal["taken"] | None:
        """The pending proposal's command, taken once: several "yes" at once (a retry, a
        double submit) run it once; the others get ``"taken"``. None: nothing pending."""
        turns = await self.history.recent(user, 1)
        command = _proposed(turns)
        if command is None:
            return None
        key = f"scops:{{chatops}}:confirmed:{user}:{turns[0].at.isoformat()}"
        first = await self.history.redis.set(key, "1", nx=True, ex=2 * PROPOSAL_FRESH_S)
        return command if first else "taken"


def _proposed(turns: list[Turn]) -> str | None:
    """The command the newest turn proposed, while fresh."""
    if not turns or turns[0].outcome != "confirm" or turns[0].intent is None:
        return None
    if (utcnow() - turns[0].at).total_seconds() > PROPOSAL_FRESH_S:
        return None
    try:
        intent = ChatIntent.model_validate_json(json.dumps(turns[0].intent))
    except ValidationError:
        return None
    return intent.as_command()


def turn_of(channel: str, query: str, reply: Reply) -> Turn:
    return Turn(
        channel=channel,
        query=query,
        intent=reply.intent.model_dump(mode="json") if reply.intent else None,
        understood_by=reply.understood_by,
        outcome=reply.answer.outcome.value,
        answer=reply.answer.text,
    )

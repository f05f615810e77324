"""A chat query sent again with the same ``request_id`` (a client retrying after a timeout) is
answered with the first answer, and its command is not run again: a silence asked twice is one
silence, a restart asked twice one request.

The id is the caller's (scoped to its API key, so two keys cannot collide or read each other's
answers). While the first is being answered the id is held for ``HELD_S``; a repeat then is
told to ask again in a moment (409). A gateway killed while answering leaves the hold to lapse,
after which a repeat runs the query, as without an id. The answer is kept ``KEPT_S``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import HTTPException
from pydantic import BaseModel
from redis.asyncio import Redis

HELD_S = 60  # longer than any answer takes (the services' calls time out well before)
KEPT_S = 24 * 3600
_HELD = b"answering"

A = TypeVar("A", bound=BaseModel)


def answer_key(key_id: str, request_id: str) -> str:
    return f"scops:{{chatops}}:answered:{key_id}:{request_id}"


async def answered_once(
    redis: Redis,
    key_id: str,
    request_id: str | None,
    kind: type[A],
    answer: Callable[[], Awaitable[A]],
) -> A:
    """``answer()``, once per ``request_id`` of this key (None: every time)."""
    if request_id is None:
        return await answer()
    key = answer_key(key_id, request_id)
    if not await redis.set(key, _HELD, nx=True, ex=HELD_S):
        kept = await redis.get(key)
        if kept is None:  # the hold lapsed between the two reads: ask again
            raise HTTPException(409, f"request_id {request_id!r} is being answered; ask again")
        if kept == _HELD:
            raise HTTPException(
                409, f"request_id {request_id!r} is being answered; ask again in a moment"
            )
        return kind.model_validate_json(kept)
    try:
        found = await answer()
    except BaseException:
        await redis.delete(key)
        raise
    await redis.set(key, found.model_dump_json(), ex=KEPT_S)
    return found

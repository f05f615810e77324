"""ChatOps over HTTP: ask, read your history, clear it. The caller is the API key."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.acting import act_via
from services.gateway.auth import ChatUser, Principal, Viewer
from services.gateway.chatops.answered_once import answered_once
from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.history import ChatHistory, Turn, turn_of
from services.gateway.chatops.intents import ChatIntent
from services.gateway.chatops.replies import Asker, Outcome
from services.gateway.chatops.text_guard import QUERY_MAX_CHARS
from services.gateway.deps import CorrelationIdDep, gateway
from shared.web import problem_responses

log = structlog.get_logger("gateway.chatops")
router = APIRouter(prefix="/chatops", tags=["chatops"])
ERRORS = problem_responses(401, 403, 422)


def _engine(request: Request) -> ChatEngine:
    engine: ChatEngine = gateway(request).chat_engine
    return engine


def _history(request: Request) -> ChatHistory:
    history: ChatHistory = gateway(request).chat_history
    return history


EngineDep = Annotated[ChatEngine, Depends(_engine)]
HistoryDep = Annotated[ChatHistory, Depends(_history)]


def asker_of(principal: Principal) -> Asker:
    return Asker(user=f"key:{principal.key_id}", who=principal.actor, role=principal.role)


class ChatQuery(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "what's wrong with web-1?"},
                {"query": "anomalies in the last hour"},
                {"query": "restart nginx on web-1"},
                {"query": "what happened overnight"},
            ]
        },
    )
    query: str = Field(
        min_length=1, max_length=QUERY_MAX_CHARS, description="A question or command."
    )
    request_id: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Makes a retry safe: the same id sent again by the same key within a day "
        "gets the first answer, and its command is not run again (409 while the first is "
        "still being answered).",
        examples=["7f3c2a-retry-safe"],
    )


class ChatAnswer(BaseModel):
    query: str
    intent: ChatIntent | None = Field(description="What was understood (None: nothing).")
    understood_by: str | None = Field(
        description="parser (an exact command), classifier (the built-in classifier, with "
        "`data.confidence`), llm, or None."
    )
    outcome: Outcome = Field(
        description="answered, accepted (handed to the owning service), refused (nothing "
        "done), not_understood, confirm (an action in other words: nothing done, send "
        "`data.command` to do it), clarify (not sure: send one of `data.options`), unavailable."
    )
    text: str = Field(description="The answer, in words (Slack-style *bold* and `code`).")
    data: dict[str, Any] = Field(description="Ids and figures the answer was built from.")


class HistoryPage(BaseModel):
    user: str
    turns: list[Turn] = Field(description="Newest first.")


class Cleared(BaseModel):
    user: str
    cleared: int = Field(description="Turns forgotten.")


@router.post(
    "/query",
    summary="Ask in plain words: status, anomalies, approvals, summaries, why, restart, help",
    responses=problem_responses(
        400, 401, 403, 413, 422, 429, s409="The same request_id is still being answered"
    ),
)
async def chatops_query(
    request: Request,
    body: ChatQuery,
    principal: ChatUser,
    engine: EngineDep,
    history: HistoryDep,
    correlation_id: CorrelationIdDep,
) -> ChatAnswer:
    """Any valid key may ask; actions (restart, scale, approve, reject, silence, maintenance)
    need the `operator` role, the breaker reset and rules switches `admin`, and then pass every
    safety check of the remediator. Only an exact command acts: an action said in other words
    is answered `confirm` with the command to send. Refusals, answers the services could not
    give, clarifying questions and messages not understood are answers too (`outcome`), not
    HTTP errors. Say `help` for the list."""
    asker = asker_of(principal)

    async def answer() -> ChatAnswer:
        act_via("chatops")  # what the command does, the key's person does through ChatOps
        reply = await engine.reply(asker, body.query, correlation_id)
        await history.add(asker.user, turn_of("api", body.query, reply))
        log.info(
            "chatops_query",
            intent=reply.intent.intent.value if reply.intent else None,
            understood_by=reply.understood_by,
            outcome=reply.answer.outcome.value,
        )
        return ChatAnswer(
            query=body.query,
            intent=reply.intent,
            understood_by=reply.understood_by,
            outcome=reply.answer.outcome,
            text=reply.answer.text,
            data=reply.answer.data,
        )

    redis = gateway(request).redis
    return await answered_once(redis, principal.key_id, body.request_id, ChatAnswer, answer)


@router.get("/history", summary="Your ChatOps conversation, newest first", responses=ERRORS)
async def chatops_history(
    principal: Viewer,
    history: HistoryDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> HistoryPage:
    user = asker_of(principal).user
    return HistoryPage(user=user, turns=await history.recent(user, limit))


@router.post(
    "/clear", summary="Forget your ChatOps conversation", responses=problem_responses(401, 403)
)
async def chatops_clear(principal: Viewer, history: HistoryDep) -> Cleared:
    user = asker_of(principal).user
    return Cleared(user=user, cleared=await history.clear(user))

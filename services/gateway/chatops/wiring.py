"""ChatOps' parts, built once in the gateway's lifespan from its settings and clients."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import structlog
from redis.asyncio import Redis

from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.classifier import IntentClassifier
from services.gateway.chatops.history import ChatHistory, Proposals
from services.gateway.chatops.knowledge import SystemKnowledge
from services.gateway.chatops.llm import LlmInterpreter
from services.gateway.chatops.operations import AnomalySource
from services.gateway.chatops.understanding import Understanding
from services.gateway.config import GatewaySettings
from services.gateway.proxy import Backends

log = structlog.get_logger("gateway.chatops")


@dataclass(frozen=True)
class ChatOpsParts:
    engine: ChatEngine
    history: ChatHistory


def build_chatops(
    settings: GatewaySettings,
    redis: Redis,
    http: httpx.AsyncClient,
    backends: Backends,
    index: AnomalySource,
) -> ChatOpsParts:
    llm = None
    if settings.chatops_llm_url is not None:
        llm = LlmInterpreter(
            http,
            settings.chatops_llm_url,
            settings.chatops_llm_api_key,
            settings.chatops_llm_model,
            settings.chatops_llm_timeout_s,
        )
    understanding = build_understanding()
    history = ChatHistory(redis, settings.chatops_history_turns, settings.chatops_history_ttl_s)
    engine = ChatEngine(
        backends,
        index,
        llm=llm,
        llm_may_act=settings.chatops_llm_may_act,
        understanding=understanding,
        knowledge=SystemKnowledge(backends, index) if understanding is not None else None,
        proposals=Proposals(history),
        console_url=settings.console_public_url,
    )
    return ChatOpsParts(engine, history)


def build_understanding() -> Understanding | None:
    """The classifier, trained from the corpus shipped in the package in a fraction of a
    second. Without its corpus (a broken install) ChatOps still reads exact commands."""
    try:
        understanding = Understanding(IntentClassifier.train())
    except OSError as exc:
        log.error("chatops_classifier_unavailable", error=type(exc).__name__)
        return None
    log.info("chatops_classifier_trained", model=understanding.version)
    return understanding

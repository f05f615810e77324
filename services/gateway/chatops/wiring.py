"""ChatOps' parts, built once in the gateway's lifespan from its settings and clients."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import structlog
from redis.asyncio import Redis

from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.classifier_loading import ClassifierLoader
from services.gateway.chatops.history import ChatHistory, Proposals
from services.gateway.chatops.knowledge import SystemKnowledge
from services.gateway.chatops.llm import LlmInterpreter
from services.gateway.chatops.operations import AnomalySource
from services.gateway.config import GatewaySettings
from services.gateway.proxy import Backends

log = structlog.get_logger("gateway.chatops")


@dataclass(frozen=True)
class ChatOpsParts:
    engine: ChatEngine
    history: ChatHistory
    classifier: ClassifierLoader


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
    understanding = ClassifierLoader()
    history = ChatHistory(redis, settings.chatops_history_turns, settings.chatops_history_ttl_s)
    engine = ChatEngine(
        backends,
        index,
        llm=llm,
        llm_may_act=settings.chatops_llm_may_act,
        understanding=understanding,
        knowledge=SystemKnowledge(backends, index),
        proposals=Proposals(history),
        console_url=settings.console_public_url,
    )
    return ChatOpsParts(engine, history, understanding)

"""Slack's parts, built once in the gateway's lifespan (they share the ChatOps engine)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis

from services.gateway.chatops.operations import AnomalySource
from services.gateway.chatops.wiring import ChatOpsParts
from services.gateway.config import GatewaySettings
from services.gateway.people import People
from services.gateway.proxy import Backends
from services.gateway.ratelimit import RateLimiter
from services.gateway.slack.commands import SlackCommands
from services.gateway.slack.interactions import SlackInteractions
from services.gateway.slack.responder import Followups, SlackResponder
from services.gateway.slack.users import SlackRoles
from services.gateway.slack.verification import ReplayGuard, SlackVerifier
from shared.bus import EventBus, StreamConsumer, consumer_name, consumer_options
from shared.streams import GROUP_SLACK_CLICKS, SLACK_CLICKS

RESPONSE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SlackParts:
    verifier: SlackVerifier
    commands: SlackCommands
    interactions: SlackInteractions
    followups: Followups
    clicks: StreamConsumer  # applies the clicks kept on their stream, at least once


def build_slack(
    settings: GatewaySettings,
    redis: Redis,
    http: httpx.AsyncClient,
    backends: Backends,
    index: AnomalySource,
    chatops: ChatOpsParts,
    limiter: RateLimiter,
) -> SlackParts:
    roles = SlackRoles(settings.slack_user_roles, People(settings.people), settings.slack_team_ids)
    responder = SlackResponder(http, settings.slack_response_url_prefix, RESPONSE_TIMEOUT_S)
    followups = Followups()
    commands = SlackCommands(
        chatops.engine,
        chatops.history,
        roles,
        limiter,
        responder,
        followups,
        settings.slack_inline_budget_s,
    )
    bus = EventBus(redis, settings.stream_maxlen)
    interactions = SlackInteractions(backends, index, roles, responder, bus)
    verifier = SlackVerifier(settings.slack_signing_secret, ReplayGuard(redis))
    clicks = StreamConsumer(
        redis,
        streams=[SLACK_CLICKS],
        group=GROUP_SLACK_CLICKS,
        consumer=consumer_name("gateway"),
        handler=interactions.handle,
        options=consumer_options(settings),
    )
    return SlackParts(verifier, commands, interactions, followups, clicks)

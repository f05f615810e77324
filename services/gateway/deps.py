"""How routes reach the gateway's parts: the composition object the lifespan built
(:mod:`services.gateway.wiring`), and what each request carries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from services.gateway.config import GatewaySettings
from shared.bus import EventBus

if TYPE_CHECKING:
    from services.gateway.wiring import Gateway


def gateway(request: Request) -> Gateway:
    """The parts of the gateway serving ``request`` (built once, in the app's lifespan)."""
    parts: Gateway = request.app.state.gateway
    return parts


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def _bus(request: Request) -> EventBus:
    return gateway(request).bus


def _correlation_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("correlation_id", ""))


SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
BusDep = Annotated[EventBus, Depends(_bus)]
CorrelationIdDep = Annotated[str, Depends(_correlation_id)]

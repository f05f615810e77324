"""Dependencies handed to routes (clients are created in the app's lifespan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.gateway.config import GatewaySettings
from shared.bus import EventBus


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def _bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


def _correlation_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("correlation_id", ""))


SettingsDep = Annotated[GatewaySettings, Depends(_settings)]
BusDep = Annotated[EventBus, Depends(_bus)]
CorrelationIdDep = Annotated[str, Depends(_correlation_id)]

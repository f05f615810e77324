"""Dependencies of the routes: the remediator's parts, and the internal token that mutating
endpoints require (compared in constant time, :func:`shared.web.require_internal_token`)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Query, Request

from services.remediator.wiring import Remediator
from shared.events import PERSON_MAX
from shared.identifiers import visible
from shared.web import require_internal_token


def get_remediator(request: Request) -> Remediator:
    remediator: Remediator = request.app.state.remediator
    return remediator


def get_correlation_id(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "") or "")


def get_actor(
    request: Request,
    by: Annotated[
        str, Query(min_length=1, max_length=128, description="Who acts (direct calls only).")
    ] = "internal",
) -> str:
    """Who acts on a call without a body: the gateway's ``X-Actor`` (the caller's key,
    percent-encoded; only read on routes that require the internal token), else ``by``."""
    return visible(unquote(request.headers.get("X-Actor", ""))).strip()[:128] or by


ACTOR_PERSON_HEADER = "X-Actor-Person"  # set by the gateway (services/gateway/acting.py)


def get_person(
    x_actor_person: Annotated[
        str | None,
        Header(
            alias=ACTOR_PERSON_HEADER,
            description="Who acts, as the gateway authenticated them (percent-encoded).",
        ),
    ] = None,
) -> str | None:
    """The person the gateway says acts (only on routes that require the internal token)."""
    person = unquote(x_actor_person or "").strip()
    return person[:PERSON_MAX] or None


ACTOR_CHANNEL_HEADER = "X-Actor-Channel"  # set by the gateway with the person
CHANNEL = re.compile(r"^[a-z][a-z_]{0,31}\Z")


def get_channel(
    x_actor_channel: Annotated[
        str | None,
        Header(
            alias=ACTOR_CHANNEL_HEADER,
            description="How the person acts, as the gateway took it: api_key, slack, "
            "chatops or console.",
        ),
    ] = None,
) -> str | None:
    """The channel the gateway says the person acts through (only on routes that require
    the internal token); anything that is not a channel's name is not recorded."""
    via = (x_actor_channel or "").strip()
    return via if CHANNEL.match(via) else None


RemediatorDep = Annotated[Remediator, Depends(get_remediator)]
ChannelDep = Annotated[str | None, Depends(get_channel)]
OptionalPersonDep = Annotated[str | None, Depends(get_person)]
ActorDep = Annotated[str, Depends(get_actor)]
CorrelationDep = Annotated[str, Depends(get_correlation_id)]
INTERNAL = [Depends(require_internal_token)]

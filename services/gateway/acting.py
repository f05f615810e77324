"""The person acting in the current request, as the gateway tells the services behind it.

The gateway authenticates every caller (an API key, or Slack's signature and user id), so it
alone says who acts: set once where the caller is authenticated (:func:`act_as`), sent on every
call to a backend in this request as the ``X-Actor-Person`` header (:func:`person_headers`),
never taken from a request body. With it goes the channel the person acts through
(``X-Actor-Channel``: ``api_key``, ``slack`` for a button, ``chatops`` for a command typed to
the API or in Slack, ``console``), which the records of approvals keep. Backends accept these
headers only together with the internal token. A context variable carries them through ChatOps
and Slack's follow-up tasks, which copy the context they start in.
"""

from __future__ import annotations

from contextvars import ContextVar
from urllib.parse import quote

ACTOR_PERSON_HEADER = "X-Actor-Person"
ACTOR_CHANNEL_HEADER = "X-Actor-Channel"

_person: ContextVar[str | None] = ContextVar("acting_person", default=None)
_channel: ContextVar[str | None] = ContextVar("acting_channel", default=None)


def act_as(person: str, via: str) -> None:
    """From here on in this request (and tasks it starts), calls act for ``person``, who
    came through channel ``via``."""
    _person.set(person)
    _channel.set(via)


def act_via(via: str) -> None:
    """The person already acting now acts through ``via`` (an API key's ChatOps command)."""
    _channel.set(via)


def acting_person() -> str | None:
    return _person.get()


ACTOR_HEADER = "X-Actor"
ACTOR_ROLE_HEADER = "X-Actor-Role"


def actor_headers(actor: str, role: str) -> dict[str, str]:
    """The headers naming the acting key (its name and id) and its role. The name is an
    admin's free text in any script: percent-encoded, as header values are ASCII."""
    return {ACTOR_HEADER: quote(actor, safe=" :@()"), ACTOR_ROLE_HEADER: role}


def person_headers(person: str | None = None) -> dict[str, str]:
    """The headers naming ``person`` (or the request's acting person), percent-encoded (names
    may be any text; header values are ASCII), and their channel. Empty when nobody is acting
    (a service call)."""
    who = person or _person.get()
    if not who:
        return {}
    via = _channel.get()
    return {ACTOR_PERSON_HEADER: quote(who, safe=":@")} | (
        {ACTOR_CHANNEL_HEADER: via} if via else {}
    )

"""The person acting in the current request, as the gateway tells the services behind it.

The gateway authenticates every caller (an API key, or Slack's signature and user id), so it
alone says who acts: set once where the caller is authenticated (:func:`act_as`), sent on every
call to a backend in this request as the ``X-Actor-Person`` header (:func:`person_headers`),
never taken from a request body. Backends accept that header only together with the internal
token. A context variable carries it through ChatOps and Slack's follow-up tasks, which copy
the context they start in.
"""

from __future__ import annotations

from contextvars import ContextVar
from urllib.parse import quote

ACTOR_PERSON_HEADER = "X-Actor-Person"

_person: ContextVar[str | None] = ContextVar("acting_person", default=None)


def act_as(person: str) -> None:
    """From here on in this request (and tasks it starts), calls act for ``person``."""
    _person.set(person)


def acting_person() -> str | None:
    return _person.get()


def person_headers(person: str | None = None) -> dict[str, str]:
    """The header naming ``person`` (or the request's acting person), percent-encoded (names
    may be any text; header values are ASCII). Empty when nobody is acting (a service call)."""
    who = person or _person.get()
    return {ACTOR_PERSON_HEADER: quote(who, safe=":@")} if who else {}

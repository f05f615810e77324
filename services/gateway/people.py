"""Who a caller is as a person, whatever they call through.

Approvals count people, not keys or Slack accounts, so every caller gets one canonical
identity (no I/O here):

- an API key is its owner's: ``person:<owner>`` (``scops keys create --owner ana``; a key
  created without an owner belongs to its name);
- a Slack user is ``slack:<team id>:<user id>`` (never the display name, which users change);
  on Enterprise Grid ``slack:<org id>:<user id>`` (``E…``): a user keeps one id in all of the
  org's workspaces, and must not count again for acting from another one;
- ``SCOPS_PEOPLE`` says that several of these are one person: a JSON object of person to
  identities, each ``slack:<team id>:<user id>`` or ``owner:<key owner>``, e.g.
  ``{"ana": ["slack:T012AB:U012CD", "owner:ana-ci"]}``. Every listed identity is then
  ``person:ana``, like ana's own keys.

An identity listed under two people is refused at start: it would make the count ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

SLACK_ID = re.compile(r"^slack:[A-Z0-9]+:[A-Z0-9]+\Z")
PERSON = re.compile(r"^[^\s:]{1,64}\Z")


def slack_identity(team_id: str, user_id: str) -> str:
    return f"slack:{team_id}:{user_id}"


class People:
    def __init__(self, mapping: Mapping[str, Sequence[str]] | None = None) -> None:
        self.alias: dict[str, str] = {}
        for person, identities in (mapping or {}).items():
            if not PERSON.match(person):
                raise ValueError(f"person {person!r}: 1 to 64 characters, no spaces or colons")
            for identity in identities:
                if not (SLACK_ID.match(identity) or identity.startswith("owner:")):
                    raise ValueError(
                        f"{person}: {identity!r} is neither slack:<team id>:<user id> "
                        "nor owner:<key owner>"
                    )
                known = self.alias.get(identity)
                if known is not None and known != person:
                    raise ValueError(f"{identity} is listed for both {known} and {person}")
                self.alias[identity] = person

    def of_key_owner(self, owner: str) -> str:
        """The person behind a key of ``owner``."""
        return f"person:{self.alias.get(f'owner:{owner}', owner)}"

    def of_slack(self, team_id: str, user_id: str) -> str:
        """The person behind a Slack user (their own identity unless mapped)."""
        identity = slack_identity(team_id, user_id)
        person = self.alias.get(identity)
        return identity if person is None else f"person:{person}"

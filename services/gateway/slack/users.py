"""Who a Slack user is to ChatOps: a role from ``SCOPS_SLACK_USER_ROLES`` (unknown users are
viewers), a history of their own, a name for the records, and the person they are (their
team and user ids, or who ``SCOPS_PEOPLE`` says they are: :mod:`services.gateway.people`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.gateway.api_keys import Role
from services.gateway.chatops.replies import Asker
from services.gateway.people import People


@dataclass(frozen=True)
class SlackUser:
    user_id: str
    name: str
    team_id: str = ""  # the workspace the user acted in (or their own, for a button)
    enterprise_id: str = ""  # the Enterprise Grid org of that workspace, if any

    @property
    def mention(self) -> str:
        return f"<@{self.user_id}>"

    @property
    def who(self) -> str:
        """How the services record this person (``decided_by``, ``by``): 128 characters."""
        return f"{self.name} (slack {self.user_id})"[:128]


class SlackRoles:
    def __init__(self, roles: Mapping[str, str], people: People | None = None) -> None:
        self.roles = {user: Role(role) for user, role in roles.items()}
        self.people = people or People()

    def role_of(self, user_id: str) -> Role:
        return self.roles.get(user_id, Role.VIEWER)

    def person_of(self, user: SlackUser) -> str:
        """The stable identity approvals count: never the display name, which users change.
        On Enterprise Grid a user keeps one id in every workspace of the org, so the org (not
        the workspace they happen to act in) scopes it: a button in one workspace and a
        command in another are one person."""
        return self.people.of_slack(user.enterprise_id or user.team_id, user.user_id)

    def asker(self, user: SlackUser) -> Asker:
        return Asker(user=f"slack:{user.user_id}", who=user.who, role=self.role_of(user.user_id))

"""Who a Slack user is to ChatOps: a role from ``SCOPS_SLACK_USER_ROLES`` (unknown users are
viewers), a history of their own, and a name for the records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.gateway.chatops.replies import Asker
from services.gateway.keys import Role


@dataclass(frozen=True)
class SlackUser:
    user_id: str
    name: str
    team_id: str = ""

    @property
    def mention(self) -> str:
        return f"<@{self.user_id}>"

    @property
    def who(self) -> str:
        """How the services record this person (``decided_by``, ``by``): 128 characters."""
        return f"{self.name} (slack {self.user_id})"[:128]


class SlackRoles:
    def __init__(self, roles: Mapping[str, str]) -> None:
        self.roles = {user: Role(role) for user, role in roles.items()}

    def role_of(self, user_id: str) -> Role:
        return self.roles.get(user_id, Role.VIEWER)

    def asker(self, user: SlackUser) -> Asker:
        return Asker(user=f"slack:{user.user_id}", who=user.who, role=self.role_of(user.user_id))

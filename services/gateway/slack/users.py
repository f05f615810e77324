"""Who a Slack user is to ChatOps: whether their workspace may ask at all
(``SCOPS_SLACK_TEAM_IDS``), a role from ``SCOPS_SLACK_USER_ROLES`` (unknown users are viewers), a
history of their own, a name for the records, and the person they are (their team and user ids,
or who ``SCOPS_PEOPLE`` says they are: :mod:`services.gateway.people`).

A user id is unique only within its workspace (or Enterprise Grid org), and an app distributed
to several workspaces receives all of their requests signed with the one signing secret: a
member of another workspace can carry the id a role was given to. So the workspace is checked
against the allow list before anything else, and a role may be scoped to one workspace or org
(``"T012AB:U012AB3CD"``); a bare user id is the same user in every workspace allowed."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import structlog

from services.gateway.api_keys import Role
from services.gateway.chatops.replies import Asker
from services.gateway.people import People, slack_identity

log = structlog.get_logger("gateway.slack")


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
    def account(self) -> str:
        """Whose ChatOps history, pending proposal and rate limit these are: the user id
        within its org or workspace (``slack:T012AB:U012AB3CD``), as approvals count them; two
        allowed workspaces can each have a ``U012AB3CD``."""
        scope = self.enterprise_id or self.team_id
        return slack_identity(scope, self.user_id) if scope else f"slack:{self.user_id}"

    @property
    def who(self) -> str:
        """How the services record this person (``decided_by``, ``by``): 128 characters."""
        return f"{self.name} (slack {self.user_id})"[:128]


class SlackRoles:
    def __init__(
        self,
        roles: Mapping[str, str],
        people: People | None = None,
        teams: Collection[str] = (),
    ) -> None:
        self.roles = {user: Role(role) for user, role in roles.items()}
        self.people = people or People()
        self.teams = frozenset(teams)

    def admits(self, user: SlackUser) -> bool:
        """Whether requests from this user's workspace (or its org) are answered at all."""
        if not self.teams:
            return True
        return bool({user.team_id, user.enterprise_id} & self.teams)

    def refusal(self, user: SlackUser) -> str | None:
        """What a user of a workspace not answered is told (logged); None: answered."""
        if self.admits(user):
            return None
        log.warning("slack_team_refused", team_id=user.team_id, org=user.enterprise_id)
        where = user.team_id or "an unnamed workspace"
        return (
            f"This Slack workspace ({where}) is not one this gateway answers "
            "(SCOPS_SLACK_TEAM_IDS). Nothing was done."
        )

    def role_of(self, user: SlackUser) -> Role:
        """The role given to this user in their org or workspace, else to their bare id;
        a viewer otherwise, and always outside the allowed workspaces."""
        if not self.admits(user):
            return Role.VIEWER
        for scope in (user.enterprise_id, user.team_id):
            if scope and (role := self.roles.get(f"{scope}:{user.user_id}")) is not None:
                return role
        return self.roles.get(user.user_id, Role.VIEWER)

    def person_of(self, user: SlackUser) -> str:
        """The stable identity approvals count: never the display name, which users change.
        On Enterprise Grid a user keeps one id in every workspace of the org, so the org (not
        the workspace they happen to act in) scopes it: a button in one workspace and a
        command in another are one person."""
        return self.people.of_slack(user.enterprise_id or user.team_id, user.user_id)

    def asker(self, user: SlackUser) -> Asker:
        return Asker(user=user.account, who=user.who, role=self.role_of(user))

"""``/cloudops <query>``: the ChatOps engine, answered within Slack's 3 seconds.

What needs no I/O (help, a refusal by role, not understood) is answered at once. Anything
else gets ``slack_inline_budget_s``: finished in time, it is the inline answer; otherwise
Slack gets "working on it" now and the answer is posted to the ``response_url`` when ready.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import structlog

from services.gateway.acting import act_as
from services.gateway.chatops.chat_engine import ChatEngine
from services.gateway.chatops.history import ChatHistory, turn_of
from services.gateway.chatops.replies import Answer, Asker, Outcome, Reply
from services.gateway.chatops.text_guard import QUERY_MAX_CHARS
from services.gateway.ratelimit import RateLimiter
from services.gateway.slack import messages
from services.gateway.slack.responder import Followups, SlackResponder
from services.gateway.slack.users import SlackRoles, SlackUser
from shared.mrkdwn import unescape

log = structlog.get_logger("gateway.slack")


def failed(correlation_id: str) -> Answer:
    return Answer(
        Outcome.UNAVAILABLE,
        f"Something failed on the way; nothing more can be said here (correlation id "
        f"`{correlation_id}` in the gateway's log).",
    )


class MalformedSlackRequestError(ValueError):
    """A verified request that lacks what Slack always sends."""


@dataclass(frozen=True)
class SlashCommand:
    user: SlackUser
    text: str
    response_url: str | None

    @classmethod
    def from_form(cls, body: bytes) -> SlashCommand:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
        user_id = form.get("user_id", "")
        if not user_id:
            raise MalformedSlackRequestError("a slash command needs user_id")
        user = SlackUser(
            user_id,
            form.get("user_name") or user_id,
            form.get("team_id", ""),
            form.get("enterprise_id", ""),
        )
        # Slack sends what was typed with &, < and > as entities: read as typed (a reason
        # "p99 > 2s & rising" is recorded so, and escaped again wherever it is shown).
        text = unescape(form.get("text", "")).strip()
        return cls(user, text, form.get("response_url"))


class SlackCommands:
    def __init__(
        self,
        engine: ChatEngine,
        history: ChatHistory,
        roles: SlackRoles,
        limiter: RateLimiter,
        responder: SlackResponder,
        followups: Followups,
        budget_s: float,
    ) -> None:
        self.engine = engine
        self.history = history
        self.roles = roles
        self.limiter = limiter
        self.responder = responder
        self.followups = followups
        self.budget_s = budget_s

    async def handle(self, command: SlashCommand, correlation_id: str) -> dict[str, Any]:
        if (refused := self.roles.refusal(command.user)) is not None:
            return messages.notice(refused)
        wait = await self.limiter.hit(command.user.account)
        if wait is not None:
            return messages.notice(
                f"Slow down: {self.limiter.per_minute} requests a minute at most. "
                f"Try again in {wait} s."
            )
        asker = self.roles.asker(command.user)
        text = command.text or "help"
        if len(text) > QUERY_MAX_CHARS:
            return messages.notice(
                f"That message is {len(text)} characters long; at most {QUERY_MAX_CHARS} are "
                "read, and a message is never cut (its end may change what it asks). Nothing "
                "was done."
            )
        quick = self.engine.quick_reply(asker, text)
        if quick is not None:
            await self._remember(asker, text, quick)
            return messages.command_answer(quick)
        act_as(self.roles.person_of(command.user), "chatops")  # the reply's calls act for them
        task = self.followups.start(self._reply(asker, text, correlation_id), name="slack-command")
        done, _ = await asyncio.wait({task}, timeout=self.budget_s)
        if done:
            return messages.command_answer(task.result())
        if not self.responder.allowed(command.response_url):
            log.warning("slack_late_answer_impossible")
            return messages.notice(
                "This takes longer than Slack waits, and this request's response_url is not "
                "one the gateway posts to (SCOPS_SLACK_RESPONSE_URL_PREFIX): ask again, or "
                "use the API."
            )
        self.followups.start(self._answer_later(task, command.response_url), name="slack-late")
        return messages.working_on(text)

    async def _reply(self, asker: Asker, text: str, correlation_id: str) -> Reply:
        try:
            reply = await self.engine.reply(asker, text, correlation_id)
        except Exception:
            log.exception("slack_command_failed")
            return Reply(None, None, failed(correlation_id))
        await self._remember(asker, text, reply)
        return reply

    async def _answer_later(self, task: asyncio.Task[Reply], response_url: str | None) -> None:
        reply = await task
        await self.responder.post(response_url, messages.command_answer(reply))

    async def _remember(self, asker: Asker, text: str, reply: Reply) -> None:
        await self.history.add(asker.user, turn_of("slack", text, reply))
        log.info(
            "slack_command",
            slack_user=asker.user,
            intent=reply.intent.intent.value if reply.intent else None,
            outcome=reply.answer.outcome.value,
        )

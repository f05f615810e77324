"""The notifier's buttons: Approve, Reject, Acknowledge, False positive, Silence.

Slack gets its acknowledgement at once; the click is then applied (each button needs the
``operator`` role) and the original message is replaced, through the payload's
``response_url``, by itself without the spent buttons and with a line saying who did what.
A click that cannot be applied leaves the message alone and tells only the person who clicked.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import structlog
from pydantic import ValidationError

from services.gateway.acting import act_as
from services.gateway.api_keys import GRANTS, Role
from services.gateway.chatops.backend_calls import BackendCaller, BackendUnavailableError
from services.gateway.chatops.durations import describe_duration
from services.gateway.chatops.intents import Entities, IntentName
from services.gateway.chatops.operations import AnomalySource, Operations
from services.gateway.chatops.replies import Outcome
from services.gateway.proxy import Backends
from services.gateway.slack import messages
from services.gateway.slack.block_actions import BlockActions, Clicked
from services.gateway.slack.commands import MalformedSlackRequestError, failed
from services.gateway.slack.responder import SlackResponder
from services.gateway.slack.users import SlackRoles, SlackUser
from shared.bus import EventBus, StreamEntry
from shared.events import SLACK_CLICK_MAX, SlackClick
from shared.json_bounds import JsonBoundsError, loads_bounded
from shared.mrkdwn import escape
from shared.slack_buttons import (
    SILENCE_BUTTON_S,
    ActionId,
    AnomalyButton,
    ApprovalButton,
    GroupButton,
    glob_literal,
)
from shared.streams import SLACK_CLICKS

log = structlog.get_logger("gateway.slack")
APPROVAL_BUTTONS = frozenset({ActionId.APPROVAL_APPROVE.value, ActionId.APPROVAL_REJECT.value})


@dataclass(frozen=True)
class Applied:
    done: bool
    line: str  # done: added to the message; else: told to the person who clicked
    remove: frozenset[str] = frozenset()
    settled: str | None = None  # an approval decided for good: its message's new title


# A handler gets the click's identity too: the same whenever the stored click is applied.
Handler = Callable[[Clicked, SlackUser, Operations, str], Awaitable[Applied]]


def parse_payload(body: bytes) -> BlockActions | None:
    """The block actions in an interaction request; None for other interaction types."""
    form = parse_qs(body.decode("utf-8", "replace"))
    raw = form.get("payload", [""])[0]
    try:
        data = loads_bounded(raw)
    except JsonBoundsError as exc:
        raise MalformedSlackRequestError(f"{exc.located('payload')}: {exc.reason}") from exc
    except ValueError as exc:
        raise MalformedSlackRequestError("the payload field is not JSON") from exc
    if not isinstance(data, dict):
        raise MalformedSlackRequestError("the payload field is not a JSON object")
    if data.get("type") != "block_actions":
        return None
    try:
        actions = BlockActions.model_validate(data)
    except ValidationError as exc:
        raise MalformedSlackRequestError("the block_actions payload lacks user or actions") from exc
    if len(actions.model_dump_json()) > SLACK_CLICK_MAX:  # what the clicks stream keeps
        raise MalformedSlackRequestError(
            f"payload: longer than {SLACK_CLICK_MAX} characters (Slack's are a few thousand)"
        )
    return actions


class SlackInteractions:
    def __init__(
        self,
        backends: Backends,
        index: AnomalySource,
        roles: SlackRoles,
        responder: SlackResponder,
        bus: EventBus,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.backends = backends
        self.index = index
        self.roles = roles
        self.responder = responder
        self.clock = clock
        self.handlers: dict[str, Handler] = {
            ActionId.APPROVAL_APPROVE: self._approve,
            ActionId.APPROVAL_REJECT: self._reject,
            ActionId.ANOMALY_ACKNOWLEDGE: self._acknowledge,
            ActionId.GROUP_ACKNOWLEDGE: self._acknowledge_group,
            ActionId.ANOMALY_FALSE_POSITIVE: self._false_positive,
            ActionId.ANOMALY_SILENCE: self._silence,
            ActionId.GROUP_SILENCE: self._silence_group,
        }

    async def accept(self, payload: BlockActions, correlation_id: str) -> None:
        """Keeps the click on the clicks stream before Slack gets its answer: Slack does not
        send a click again, so one held only in this process's memory died with it. The
        gateway's consumer of the stream applies it (:meth:`handle`)."""
        click = SlackClick(payload=payload.model_dump_json(), correlation_id=correlation_id)
        await self.bus.publish(SLACK_CLICKS, click)

    async def handle(self, entry: StreamEntry) -> None:
        """A click from the stream, applied; acknowledged (by the consumer) once the message
        is updated. Applied again after a crash it changes nothing more: a decision already
        taken says so, a verdict already given is not given again (the detector applies one
        per anomaly and verdict), and a silence is created once per click (the click's id is
        the silence request's ``request_id``)."""
        click = entry.event
        if not isinstance(click, SlackClick):
            log.warning("slack_click_unexpected", event_type=type(click).__name__)
            return
        try:
            payload = BlockActions.model_validate_json(click.payload)
        except ValidationError:
            log.warning("slack_click_unreadable", entry_id=entry.entry_id)
            return
        await self.apply(payload, click.correlation_id, f"slack-click:{click.event_id}")

    async def apply(self, payload: BlockActions, correlation_id: str, click_id: str) -> Applied:
        """Applies the click ``click_id`` (its identity: the same each time it is applied)."""
        who = payload.user
        team_id = who.team_id or (payload.team.id if payload.team is not None else "")
        org = payload.enterprise.id if payload.enterprise is not None else ""
        user = SlackUser(who.id, who.username or who.name or who.id, team_id, org)
        act_as(self.roles.person_of(user), "slack")  # this task's calls act for this person
        clicked = next((a for a in payload.actions if a.action_id in self.handlers), None)
        if clicked is None:
            log.info("slack_interaction_ignored", action_ids=[a.action_id for a in payload.actions])
            return Applied(False, "")
        try:
            applied = await self._applied(clicked, user, correlation_id, click_id)
        except Exception:
            log.exception("slack_interaction_failed", action_id=clicked.action_id)
            applied = Applied(False, failed(correlation_id).text)
        log.info(
            "slack_interaction",
            action_id=clicked.action_id,
            slack_user=user.user_id,
            done=applied.done,
        )
        if applied.done:
            update = messages.decided(
                payload.message, applied.line, applied.remove, applied.settled
            )
        else:
            update = messages.notice(applied.line)
        await self.responder.post(payload.response_url, update)
        return applied

    async def _applied(
        self, clicked: Clicked, user: SlackUser, correlation_id: str, click_id: str
    ) -> Applied:
        if (refused := self.roles.refusal(user)) is not None:
            return Applied(False, refused)
        role = self.roles.role_of(user)
        if Role.OPERATOR not in GRANTS[role]:
            return Applied(
                False,
                f"You are a {role} here (SCOPS_SLACK_USER_ROLES): this button needs the "
                "operator role. Nothing was done.",
            )
        ops = Operations(BackendCaller(self.backends, correlation_id), self.index, self.clock)
        try:
            return await self.handlers[clicked.action_id](clicked, user, ops, click_id)
        except ValidationError:
            return Applied(False, "This button's value is not one the gateway reads (v1).")
        except BackendUnavailableError as exc:
            return Applied(False, f"No answer: {exc.detail}. {exc.outcome()}.")

    async def _decide(
        self, intent: IntentName, clicked: Clicked, user: SlackUser, ops: Operations
    ) -> Applied:
        value = ApprovalButton.model_validate_json(clicked.value)
        entities = Entities(approval_id=value.approval_id)  # the record says "via Slack"
        answer = await ops.decide(intent, entities, user.who)
        if answer.outcome is not Outcome.ACCEPTED:
            return await _settled_elsewhere(ops, value.approval_id) or Applied(False, answer.text)
        mark = ":white_check_mark: Approved" if intent is IntentName.APPROVE else ":x: Rejected"
        complete = bool(answer.data.get("complete", True))
        return Applied(
            True,
            f"{mark} by {user.mention}: {escape(answer.text)}",
            APPROVAL_BUTTONS if complete else frozenset(),
            # the header is plain text: the person's name, not a mention
            f"{mark} by {user.name}" if complete else None,
        )

    async def _approve(
        self, clicked: Clicked, user: SlackUser, ops: Operations, _click_id: str
    ) -> Applied:
        return await self._decide(IntentName.APPROVE, clicked, user, ops)

    async def _reject(
        self, clicked: Clicked, user: SlackUser, ops: Operations, _click_id: str
    ) -> Applied:
        return await self._decide(IntentName.REJECT, clicked, user, ops)

    async def _acknowledge(
        self, clicked: Clicked, user: SlackUser, ops: Operations, _click_id: str
    ) -> Applied:
        value = AnomalyButton.model_validate_json(clicked.value)
        subject = {"resource_id": value.resource_id, "metric": value.metric}
        return await self._acknowledged(subject, ActionId.ANOMALY_ACKNOWLEDGE, user, ops)

    async def _acknowledge_group(
        self, clicked: Clicked, user: SlackUser, ops: Operations, _click_id: str
    ) -> Applied:
        value = GroupButton.model_validate_json(clicked.value)
        subject = {"group_id": value.group_id}
        return await self._acknowledged(subject, ActionId.GROUP_ACKNOWLEDGE, user, ops)

    async def _acknowledged(
        self, subject: dict[str, str], button: ActionId, user: SlackUser, ops: Operations
    ) -> Applied:
        reply = await ops.acknowledge(user.who, subject)
        if not reply.ok:
            return Applied(
                False, f"The notifier did not take the acknowledgement: {reply.problem_detail()}."
            )
        count = reply.body.get("acknowledged") if isinstance(reply.body, dict) else None
        quiet = f" ({count} firing alert(s) will not be repeated)" if count is not None else ""
        return Applied(
            True, f":eyes: Acknowledged by {user.mention}{quiet}", frozenset({button.value})
        )

    async def _false_positive(
        self, clicked: Clicked, user: SlackUser, ops: Operations, _click_id: str
    ) -> Applied:
        value = AnomalyButton.model_validate_json(clicked.value)
        body = {"verdict": "false_positive", "by": user.who, "note": "from Slack"}
        path = f"/anomaly/{value.anomaly_id}/feedback"
        reply = await ops.calls.call("detector", "POST", path, body=body)
        if not reply.ok:
            return Applied(
                False, f"The detector did not take the feedback: {reply.problem_detail()}."
            )
        return Applied(
            True,
            f":no_entry_sign: Marked as a false positive by {user.mention}: the detector "
            f"tunes {escape(value.metric)} on {escape(value.resource_id)}",
            frozenset({ActionId.ANOMALY_ACKNOWLEDGE.value, ActionId.ANOMALY_FALSE_POSITIVE.value}),
        )

    async def _silence(
        self, clicked: Clicked, user: SlackUser, ops: Operations, click_id: str
    ) -> Applied:
        value = AnomalyButton.model_validate_json(clicked.value)
        matchers: dict[str, Any] = dict(value.silence or {}) or {
            "resource": glob_literal(value.resource_id),
            "metric": glob_literal(value.metric),
        }
        what = f"{value.metric} on {value.resource_id}"  # recorded as the silence's comment
        return await self._silenced(
            matchers, value.silence_s, what, ActionId.ANOMALY_SILENCE, user, ops, click_id
        )

    async def _silence_group(
        self, clicked: Clicked, user: SlackUser, ops: Operations, click_id: str
    ) -> Applied:
        value = GroupButton.model_validate_json(clicked.value)
        if not value.silence:
            return Applied(False, "This group's button names nothing to silence.")
        what = f"this group ({value.alerts} alerts)"
        return await self._silenced(
            dict(value.silence), value.silence_s, what, ActionId.GROUP_SILENCE, user, ops, click_id
        )

    async def _silenced(
        self,
        matchers: dict[str, Any],
        silence_s: int | None,
        what: str,
        button: ActionId,
        user: SlackUser,
        ops: Operations,
        click_id: str,
    ) -> Applied:
        seconds = silence_s or SILENCE_BUTTON_S
        answer = await ops.create_silence(
            matchers, seconds, user.who, what, "from Slack", request_id=click_id
        )
        if answer.outcome is not Outcome.ACCEPTED:
            return Applied(False, answer.text)
        return Applied(
            True,
            f":no_bell: Silenced for {describe_duration(seconds)} by {user.mention} "
            f"(silence `{answer.data.get('silence_id')}`)",
            frozenset({button.value}),
        )


_SETTLED = {
    "approved": ":white_check_mark: Approved",
    "rejected": ":x: Rejected",
    "expired": ":hourglass: Expired",
    "withdrawn": ":heavy_minus_sign: Withdrawn",
}


async def _settled_elsewhere(ops: Operations, approval_id: str) -> Applied | None:
    """An approval decided elsewhere (the API, ChatOps, the console) or that lapsed keeps its
    buttons in Slack, where it still reads as waiting; the click that finds it decided brings
    the message up to date, saying who decided, and does nothing more. None: still pending
    (say, one of several approvals given), or not readable: the refusal is shown instead."""
    try:
        reply = await ops.calls.call("remediator", "GET", f"/remediation/approvals/{approval_id}")
    except BackendUnavailableError:
        return None
    approval = reply.body if reply.ok and isinstance(reply.body, dict) else {}
    mark = _SETTLED.get(str(approval.get("state")))
    if mark is None:
        return None
    by = approval.get("decided_by")
    header = f"{mark} by {by}" if by and approval.get("state") in ("approved", "rejected") else mark
    line = f"{escape(header)}: decided before this click; nothing more was done."
    return Applied(True, line, APPROVAL_BUTTONS, header[:150])

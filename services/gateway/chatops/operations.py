"""What each intent does: which service is asked what, and how its reply becomes an answer.

Paths and fields are the services' documented APIs: the detector's ``/anomaly/status``, the
remediator's ``/remediation/status``, ``/remediation/actions`` (audit log), ``/execute`` and
``/approvals``, the notifier's ``/health``, silences and acknowledgements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.gateway.anomaly_index import Query
from services.gateway.approval_subjects import action_on_target
from services.gateway.chatops import answers
from services.gateway.chatops.backend_calls import (
    BackendCaller,
    BackendReply,
    BackendUnavailableError,
)
from services.gateway.chatops.durations import describe_duration
from services.gateway.chatops.intents import Entities, IntentName
from services.gateway.chatops.remediation_request import manual_request
from services.gateway.chatops.replies import Answer, Outcome
from shared.events import Severity

SILENCES_PATH = "/notifications/silences"
ACKNOWLEDGEMENTS_PATH = "/notifications/acknowledgements"
HEALTH_WINDOW_S = 86400
HEALTH_MOST = 5000
FULL_APPROVAL_ID = 32
SHOWN_APPROVAL_ID = 8  # what ChatOps and Slack show of an approval id, and the least taken


class AnomalySource(Protocol):
    async def query(self, q: Query) -> tuple[list[dict[str, Any]], str | None]: ...


def _answer(outcome: str, text: str, data: dict[str, Any] | None = None) -> Answer:
    return Answer(Outcome(outcome), text, data or {})


class Operations:
    def __init__(
        self, calls: BackendCaller, index: AnomalySource, clock: Callable[[], float]
    ) -> None:
        self.calls = calls
        self.index = index
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- questions -----------------------------------------------------------------------

    async def status(self) -> Answer:
        async def part(service: str, path: str) -> tuple[bool, Any]:
            try:
                return True, await self.calls.get(service, path)
            except BackendUnavailableError as exc:
                return False, exc.detail

        detector, remediator, notifier, recent = await asyncio.gather(
            part("detector", "/anomaly/status"),
            part("remediator", "/remediation/status"),
            part("notifier", "/health"),
            self.index.query(Query(since=self.clock() - 3600, limit=500)),
        )
        lines = ["*System status*"]
        for name, (up, data), describe in (
            ("detector", detector, answers.detector_status),
            ("remediator", remediator, answers.remediator_status),
            ("notifier", notifier, lambda _d: ""),
        ):
            if up:
                said = describe(data if isinstance(data, dict) else {})
                lines.append(f"• {name}: up — {said}" if said else f"• {name}: up")
            else:
                lines.append(f"• {name}: *down* — {data}")
        more = recent[1] is not None  # a page's worth: the count is at least that
        lines.append(f"• anomalies: {answers.anomaly_summary(recent[0], more)}")
        services = {"detector": detector[0], "remediator": remediator[0], "notifier": notifier[0]}
        return _answer("answered", "\n".join(lines), {"up": services})

    async def resource_health(self, e: Entities) -> Answer:
        assert e.resource is not None
        query = Query(resource_id=e.resource, since=self.clock() - HEALTH_WINDOW_S, limit=500)
        # Every page of the day (up to HEALTH_MOST): an open anomaly behind the newest page of
        # a flapping series' episodes was answered "no open anomaly".
        items, cursor = await self.index.query(query)
        while cursor is not None and len(items) < HEALTH_MOST:
            page, cursor = await self.index.query(replace(query, cursor=cursor))
            items += page
        open_ids = [str(i.get("event_id")) for i in answers.episodes(items) if answers.is_open(i)]
        text = answers.resource_health(
            e.resource, items, HEALTH_WINDOW_S, self.now(), more=cursor is not None
        )
        return _answer("answered", text, {"resource": e.resource, "open": open_ids})

    async def recent_anomalies(self, e: Entities) -> Answer:
        window = e.window_s or 3600
        query = Query(
            resource_id=e.resource,
            min_severity=e.min_severity or Severity.NORMAL,
            since=self.clock() - window,
            limit=200,
        )
        items, cursor = await self.index.query(query)
        text = answers.recent_anomalies(
            items, window, e.resource, e.min_severity, self.now(), truncated=cursor is not None
        )
        ids = [str(i.get("event_id")) for i in answers.episodes(items)]
        return _answer("answered", text, {"window_s": window, "anomaly_ids": ids})

    async def action_history(self, e: Entities) -> Answer:
        assert e.resource is not None
        params = {"resource_id": e.resource, "limit": "50"}
        if e.action is not None:
            params["action"] = e.action.value
        page = await self.calls.get("remediator", "/remediation/actions", params)
        records = page.get("items", []) if isinstance(page, dict) else []
        text = answers.action_history(e.resource, e.action, records)
        kept = answers.decisions(records)
        return _answer("answered", text, {"records": [str(r.get("event_id")) for r in kept]})

    # -- commands ------------------------------------------------------------------------

    async def run_action(self, e: Entities, who: str, asked: str) -> Answer:
        body = manual_request(e, who, asked)
        reply = await self.calls.call("remediator", "POST", "/remediation/execute", body=body)
        if reply.ok:
            return self._queued(e, reply, body["action"])
        if reply.status == 403 and reply.field("blocked_by"):
            rule = reply.field("blocked_by")
            return _answer(
                "refused",
                f"Refused by the remediator's `{rule}` rule: {reply.problem_detail()}. "
                "Nothing was done.",
                {"blocked_by": rule},
            )
        return self._failed("remediator", reply, "the request")

    async def decide(self, intent: IntentName, e: Entities, who: str) -> Answer:
        assert e.approval_id is not None
        approval_id, problem = await self._approval_id(e.approval_id)
        if approval_id is None:
            return _answer("refused", problem)
        body = {"by": who[:128], "comment": e.reason or ""}
        path = f"/remediation/approvals/{approval_id}/{intent.value}"
        reply = await self.calls.call("remediator", "POST", path, body=body)
        if not reply.ok:
            return self._failed("remediator", reply, f"approval `{approval_id}`")
        decision = reply.body if isinstance(reply.body, dict) else {}
        approval = decision.get("approval") or {}
        what = _approval_subject(approval)
        return _answer(
            "accepted",
            f"{what}: {reply.field('detail') or intent.value + 'd'}.",
            {
                "approval_id": approval_id,
                "state": approval.get("state"),
                "complete": bool(decision.get("complete", True)),
            },
        )

    async def silence(self, e: Entities, who: str) -> Answer:
        assert e.resource is not None and e.duration_s is not None
        matchers = {"resource": e.resource, **({"metric": e.metric} if e.metric else {})}
        what = f"{e.metric} on {e.resource}" if e.metric else e.resource
        return await self.create_silence(matchers, e.duration_s, who, what, "from ChatOps")

    async def create_silence(
        self,
        matchers: dict[str, Any],
        duration_s: int,
        who: str,
        what: str,
        comment: str,
        request_id: str | None = None,
    ) -> Answer:
        """A silence of the notifier's (``SILENCES_PATH``): ``matchers`` as it reads them
        (resource and metric globs, severities), from now for ``duration_s``. With a
        ``request_id``, the same request sent again answers the silence the first created."""
        body = {
            "matchers": matchers,
            "duration_s": duration_s,
            "created_by": who[:128],
            "comment": comment,
            **({"request_id": request_id} if request_id is not None else {}),
        }
        reply = await self.calls.call("notifier", "POST", SILENCES_PATH, body=body)
        if reply.status in (404, 405):
            return _answer(
                "unavailable",
                f"Silences are not available: the notifier has no silence API "
                f"(POST {SILENCES_PATH} answered {reply.status}). Nothing was silenced.",
            )
        if not reply.ok:
            return self._failed("notifier", reply, "the silence")
        silence_id = reply.field("id")
        ends_at = reply.field("ends_at") or (self.now() + timedelta(seconds=duration_s)).isoformat()
        return _answer(
            "accepted",
            f"Silenced notifications about {what} for {describe_duration(duration_s)} "
            f"(until {answers.when(ends_at)}), silence `{silence_id}`. "
            "Approval requests still come through.",
            {"silence_id": silence_id, "ends_at": ends_at},
        )

    async def acknowledge(self, who: str, subject: dict[str, str]) -> BackendReply:
        """Stops the notifier's reminders of an alert (``resource_id`` and ``metric``) or of a
        group (``group_id``)."""
        body = {"by": who[:128], **subject}
        return await self.calls.call("notifier", "POST", ACKNOWLEDGEMENTS_PATH, body=body)

    # -- helpers -------------------------------------------------------------------------

    def _queued(self, e: Entities, reply: BackendReply, action: str) -> Answer:
        """What the remediator said happens next, in so many words: it runs once the safety
        checks pass, it waits for people to approve (and which approval), or a dry run."""
        request_id = reply.field("anomaly_id")
        preview = reply.body.get("next") if isinstance(reply.body, dict) else None
        preview = preview if isinstance(preview, dict) else {}
        next_step, approval = preview.get("next"), preview.get("approval_id")
        text = f"{reply.field('detail') or 'queued'} (request `{request_id}`)."
        if next_step == "approval":
            text += (
                f" Nothing runs until it is approved: `approve {str(approval)[:8]}` (by someone "
                "else than you), or the Approve button in Slack."
            )
        elif next_step == "run":
            text += " It runs once the atomic checks (rate limit, cooldown, lock) pass."
        text += f" Ask `what happened to {e.resource}?` for the outcome."
        data: dict[str, Any] = {"request_id": request_id, "action": action, "next": next_step}
        if approval:
            data["approval_id"] = approval
        return _answer("accepted", text, data)

    async def _approval_id(self, given: str) -> tuple[str | None, str]:
        """The full id of the pending approval ``given`` starts, or why there is none."""
        if len(given) == FULL_APPROVAL_ID:
            return given, ""
        if len(given) < SHOWN_APPROVAL_ID:
            # An approval's id derives from its anomaly's, which an alert's sender shapes: a
            # two-letter prefix typed from memory could be made to match another's approval.
            return None, (
                f"`{given}` is too short to name an approval: give at least the "
                f"{SHOWN_APPROVAL_ID} characters `pending approvals` shows."
            )
        pending = await self.calls.get("remediator", "/remediation/approvals")
        found = [a for a in pending if str(a.get("id", "")).startswith(given)]
        if len(found) == 1:
            return str(found[0]["id"]), ""
        if not found:
            listed = ", ".join(f"`{a.get('id', '')[:8]}` ({_approval_subject(a)})" for a in pending)
            return None, (
                f"No pending approval starts with `{given}`. "
                + (f"Pending: {listed}." if listed else "Nothing waits for approval.")
            )
        ids = ", ".join(f"`{a.get('id', '')[:12]}`" for a in found)
        return None, f"`{given}` starts several pending approvals ({ids}): give more of the id."

    def _failed(self, service: str, reply: BackendReply, what: str) -> Answer:
        if reply.status == 401:
            return _answer(
                "unavailable",
                f"The {service} refused the gateway's internal token (check "
                "SCOPS_INTERNAL_TOKEN on both). Nothing was done.",
            )
        if reply.status >= 500:
            return _answer(
                "unavailable",
                f"The {service} failed on {what} (HTTP {reply.status}): "
                f"{reply.problem_detail()}. Nothing was done.",
            )
        return _answer(
            "refused",
            f"The {service} refused {what}: {reply.problem_detail()}.",
            {"status": reply.status},
        )


def _approval_subject(approval: dict[str, Any]) -> str:
    request = approval.get("request") if isinstance(approval, dict) else None
    if not isinstance(request, dict):
        return f"Approval `{str(approval.get('id', ''))[:8]}`"
    return action_on_target(request)

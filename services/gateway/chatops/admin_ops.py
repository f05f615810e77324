"""The switches the API already has, asked in words: close the circuit breaker, reload the
rules, take a rule out of automatic shadow mode (admins), add a maintenance window
(operators). Each is the same call, with the same role, as the gateway's route for it; the
remediator records who did it in its admin log."""

from __future__ import annotations

from services.gateway.chatops.backend_calls import BackendCaller, BackendReply
from services.gateway.chatops.durations import describe_duration, say_duration
from services.gateway.chatops.intents import Entities
from services.gateway.chatops.replies import Answer, Outcome


def _failed(reply: BackendReply, what: str) -> Answer:
    if reply.status == 401:
        return Answer(
            Outcome.UNAVAILABLE,
            "The remediator refused the gateway's internal token (check SCOPS_INTERNAL_TOKEN "
            "on both). Nothing was done.",
        )
    outcome = Outcome.UNAVAILABLE if reply.status >= 500 else Outcome.REFUSED
    return Answer(
        outcome,
        f"The remediator refused {what}: {reply.problem_detail()}. Nothing was done.",
        {"status": reply.status},
    )


class AdminSwitches:
    def __init__(self, calls: BackendCaller) -> None:
        self.calls = calls

    async def reset_breaker(self, who: str) -> Answer:
        body = {"by": who[:128]}
        reply = await self.calls.call("remediator", "POST", "/remediation/breaker/reset", body=body)
        if not reply.ok:
            return _failed(reply, "to reset the breaker")
        was_open = isinstance(reply.body, dict) and bool(reply.body.get("was_open"))
        text = (
            "Circuit breaker closed: automatic actions resume."
            if was_open
            else "The circuit breaker was already closed; nothing changed."
        )
        return Answer(Outcome.ACCEPTED, text, {"was_open": was_open})

    async def reload_rules(self, who: str) -> Answer:
        reply = await self.calls.call("remediator", "POST", "/rules/reload", body={"by": who[:128]})
        if not reply.ok:
            return _failed(reply, "the rules file (the rules in force are unchanged)")
        body = reply.body if isinstance(reply.body, dict) else {}
        return Answer(
            Outcome.ACCEPTED,
            f"Rules reloaded: {body.get('rules', '?')} rules, version {body.get('version', '?')}"
            f" from {body.get('source', '?')}.",
            {"version": body.get("version")},
        )

    async def unshadow_rule(self, e: Entities, who: str) -> Answer:
        assert e.rule is not None
        path = f"/rules/{e.rule}/auto-shadow/reset"
        reply = await self.calls.call("remediator", "POST", path, body={"by": who[:128]})
        if not reply.ok:
            return _failed(reply, f"to reset rule `{e.rule}`")
        was = isinstance(reply.body, dict) and bool(reply.body.get("was_shadowed"))
        text = (
            f"Rule `{e.rule}` is back to its mode in the rules file."
            if was
            else f"Rule `{e.rule}` was not in automatic shadow mode; nothing changed."
        )
        return Answer(Outcome.ACCEPTED, text, {"rule": e.rule, "was_shadowed": was})

    async def start_maintenance(self, e: Entities, who: str) -> Answer:
        assert e.resource is not None and e.duration_s is not None
        body = {
            "target_pattern": e.resource,
            "duration": say_duration(e.duration_s),
            "reason": e.reason or "from ChatOps",
            "by": who[:128],
        }
        reply = await self.calls.call("remediator", "POST", "/remediation/maintenance", body=body)
        if not reply.ok:
            return _failed(reply, "the maintenance window")
        window = reply.body if isinstance(reply.body, dict) else {}
        return Answer(
            Outcome.ACCEPTED,
            f"Maintenance on `{e.resource}` for {describe_duration(e.duration_s)}: no action "
            f"runs on matching targets until it ends (window `{window.get('id', '?')}`).",
            {"window_id": window.get("id"), "ends_at": window.get("ends_at")},
        )

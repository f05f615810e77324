"""Questions about the system as a whole: pending approvals, the safety switches, the rules in
force, a period's summary, the noisiest resources and metrics, one anomaly explained.

Answers come from the owning services' APIs (the remediator's approvals, status, rules and
audit log; the history service's incidents when it runs, else the gateway's anomaly index)
and are worded in :mod:`.insight_words`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.gateway.acting import acting_person
from services.gateway.anomaly_index import Query
from services.gateway.chatops import answers, insight_words
from services.gateway.chatops.backend_calls import BackendCaller, BackendUnavailableError
from services.gateway.chatops.extraction import near
from services.gateway.chatops.intents import Entities
from services.gateway.chatops.operations import AnomalySource
from services.gateway.chatops.replies import Answer, Outcome

SCAN_LIMIT = 1000
EXPLAIN_SCAN_S = 7 * 86400


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


class Insights:
    def __init__(
        self, calls: BackendCaller, index: AnomalySource, clock: Callable[[], float]
    ) -> None:
        self.calls = calls
        self.index = index
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def pending_approvals(self, e: Entities, who: str) -> Answer:
        pending = await self.calls.get("remediator", "/remediation/approvals")
        items = [a for a in pending if isinstance(a, dict)] if isinstance(pending, list) else []
        if e.mine:
            me = {acting_person() or "", who}
            items = [a for a in items if (a.get("request") or {}).get("requested_by") in me]
        text = insight_words.approvals(items, e.mine, self.now())
        return Answer(Outcome.ANSWERED, text, {"approval_ids": [a.get("id") for a in items]})

    async def safety_state(self) -> Answer:
        status = await self.calls.get("remediator", "/remediation/status")
        data = status if isinstance(status, dict) else {}
        safety = insight_words._dict(data.get("safety"))
        breaker = insight_words._dict(safety.get("breaker"))
        return Answer(
            Outcome.ANSWERED,
            insight_words.safety(data),
            {"dry_run": data.get("dry_run"), "breaker_open": bool(breaker.get("open"))},
        )

    async def rules(self, e: Entities) -> Answer:
        document = await self.calls.get("remediator", "/rules")
        rules = document.get("rules", []) if isinstance(document, dict) else []
        names = [str(r.get("name")) for r in rules]
        if e.rule is not None:
            chosen = [r for r in rules if r.get("name") == e.rule]
            if not chosen:
                guess = near(e.rule, frozenset(names))
                maybe = f" Did you mean `{guess}`?" if guess else ""
                return Answer(
                    Outcome.ANSWERED,
                    f"No rule is called `{e.rule}`.{maybe} Rules: {', '.join(names) or 'none'}.",
                    {"rules": names},
                )
            return Answer(Outcome.ANSWERED, insight_words.one_rule(chosen[0]), {"rule": e.rule})
        shadow = [
            n for n, r in zip(names, rules, strict=True) if r.get("effective_mode") == "shadow"
        ]
        text = insight_words.rules(document if isinstance(document, dict) else {})
        return Answer(Outcome.ANSWERED, text, {"rules": names, "shadow": shadow})

    async def summary(self, e: Entities) -> Answer:
        window = e.window_s or 86400
        since = self.clock() - window
        anomalies, source = await self._anomalies_since(since)
        records = await self._records_since(since)
        text = insight_words.summary(window, anomalies, records, source)
        runs = answers.decisions(records)
        return Answer(
            Outcome.ANSWERED,
            text,
            {"window_s": window, "anomalies": len(anomalies), "actions": len(runs), "from": source},
        )

    async def noisiest(self, e: Entities) -> Answer:
        window = e.window_s or 86400
        items, _ = await self.index.query(Query(since=self.clock() - window, limit=SCAN_LIMIT))
        top = e.count or 5
        text, data = insight_words.noisiest(answers.episodes(items), window, top)
        return Answer(Outcome.ANSWERED, text, {"window_s": window, **data})

    async def explain(self, e: Entities) -> Answer:
        item = await self._find_anomaly(e)
        if item is None:
            what = f"`{e.anomaly_id}`" if e.anomaly_id else f"on {e.resource}"
            if e.metric:
                what = f"of `{e.metric}` {what}"
            return Answer(
                Outcome.ANSWERED,
                f"I know no anomaly {what} in the last 7 days.",
                {"anomaly_id": None},
            )
        anomaly_id = str(item.get("event_id"))
        page = await self.calls.get(
            "remediator", "/remediation/actions", {"anomaly_id": anomaly_id, "limit": "20"}
        )
        records = page.get("items", []) if isinstance(page, dict) else []
        text = insight_words.explanation(item, answers.decisions(records), self.now())
        return Answer(Outcome.ANSWERED, text, {"anomaly_id": anomaly_id})

    async def _find_anomaly(self, e: Entities) -> dict[str, Any] | None:
        get = getattr(self.index, "get", None)  # the anomaly index finds a whole id directly
        if e.anomaly_id and len(e.anomaly_id) == 36 and get is not None:
            found: dict[str, Any] | None = await get(e.anomaly_id)
            return found
        query = Query(resource_id=e.resource, since=self.clock() - EXPLAIN_SCAN_S, limit=SCAN_LIMIT)
        items, _ = await self.index.query(query)
        for item in items:  # newest first
            if e.anomaly_id and not str(item.get("event_id", "")).startswith(e.anomaly_id):
                continue
            if e.metric and item.get("metric") != e.metric:
                continue
            return item
        return None

    async def _anomalies_since(self, since: float) -> tuple[list[dict[str, Any]], str]:
        """Incidents from the history service when it answers, else the anomaly index."""
        try:
            reply = await self.calls.call(
                "history",
                "GET",
                "/incidents",
                params={"since": _iso(since), "limit": "500", "kind": "anomaly"},
            )
        except (BackendUnavailableError, KeyError):
            reply = None
        if reply is not None and reply.ok and isinstance(reply.body, dict):
            # Only anomaly episodes are incidents; manual requests count as decisions.
            incidents = [
                i
                for i in reply.body.get("items", [])
                if isinstance(i, dict) and i.get("kind", "anomaly") == "anomaly"
            ]
            return [insight_words.incident_as_anomaly(i) for i in incidents], "history"
        items, _ = await self.index.query(Query(since=since, limit=SCAN_LIMIT))
        return answers.episodes(items), "index"

    async def _records_since(self, since: float) -> list[dict[str, Any]]:
        page = await self.calls.get(
            "remediator", "/remediation/actions", {"since": _iso(since), "limit": "500"}
        )
        return (
            [r for r in page.get("items", []) if isinstance(r, dict)]
            if isinstance(page, dict)
            else []
        )

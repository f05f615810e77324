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
# A period's summary reads every incident and decision of the period, page after page, up to
# this many of each (beyond: the counts say "at least", never a page's size as the total).
PAGE = 500
SUMMARY_MOST = 10_000


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
        anomalies, source, more_anomalies = await self._anomalies_since(since)
        records, more_records = await self._records_since(since)
        text = insight_words.summary(
            window, anomalies, records, source, more=(more_anomalies, more_records)
        )
        runs = answers.decisions(records)
        return Answer(
            Outcome.ANSWERED,
            text,
            {"window_s": window, "anomalies": len(anomalies), "actions": len(runs), "from": source},
        )

    async def noisiest(self, e: Entities) -> Answer:
        window = e.window_s or 86400
        query = Query(since=self.clock() - window, limit=SCAN_LIMIT)
        items, cursor = await self.index.query(query)
        top = e.count or 5
        text, data = insight_words.noisiest(
            answers.episodes(items), window, top, more=cursor is not None
        )
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

    async def _anomalies_since(self, since: float) -> tuple[list[dict[str, Any]], str, bool]:
        """Incidents from the history service when it answers, else the anomaly index; and
        whether there were more than were read."""
        params = {"since": _iso(since), "kind": "anomaly"}
        try:
            pages = await self._pages("history", "/incidents", params)
        except (BackendUnavailableError, KeyError):
            pages = None
        if pages is not None:
            found, more = pages
            # Only anomaly episodes are incidents; manual requests count as decisions.
            incidents = [i for i in found if i.get("kind", "anomaly") == "anomaly"]
            return [insight_words.incident_as_anomaly(i) for i in incidents], "history", more
        items, cursor = await self.index.query(Query(since=since, limit=SCAN_LIMIT))
        return answers.episodes(items), "index", cursor is not None

    async def _records_since(self, since: float) -> tuple[list[dict[str, Any]], bool]:
        params = {"since": _iso(since)}
        pages = await self._pages("remediator", "/remediation/actions", params, strict=True)
        return pages or ([], False)

    async def _pages(
        self, service: str, path: str, params: dict[str, str], *, strict: bool = False
    ) -> tuple[list[dict[str, Any]], bool] | None:
        """Every item of a cursor-paged list, up to ``SUMMARY_MOST``, and whether more were
        left. A service answering with an error: None (``strict``: raised, as
        :meth:`BackendCaller.get` does)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page_params = {**params, "limit": str(PAGE)}
            if cursor:
                page_params["cursor"] = cursor
            reply = await self.calls.call(service, "GET", path, params=page_params)
            if not reply.ok or not isinstance(reply.body, dict):
                if strict:
                    raise BackendUnavailableError(
                        service, f"the {service} answered {reply.status}: {reply.problem_detail()}"
                    )
                return None if not items else (items, True)
            items += [i for i in reply.body.get("items", []) if isinstance(i, dict)]
            cursor = reply.body.get("next_cursor") or None
            if cursor is None:
                return items, False
            if len(items) >= SUMMARY_MOST:
                return items, True

"""What the system knows by name, for resolving entities: resources and metrics seen in the
last week (the anomaly index, the remediator's audit log), the detector's multivariate
metrics, the remediator's rule names. Read through the same backends as every answer, kept
``ttl_s`` (a minute) so a conversation does not ask four services per message; a service that
does not answer leaves its part empty rather than failing the message."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from services.gateway.anomaly_index import Query
from services.gateway.chatops.backend_calls import BackendCaller, BackendUnavailableError
from services.gateway.chatops.extraction import Knowledge
from services.gateway.chatops.operations import AnomalySource
from services.gateway.proxy import Backends

SEEN_S = 7 * 86400
SCAN = 1000


class SystemKnowledge:
    def __init__(
        self,
        backends: Backends,
        index: AnomalySource,
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backends = backends
        self.index = index
        self.ttl_s = ttl_s
        self.clock = clock
        self._known: Knowledge | None = None
        self._at = 0.0

    async def current(self, correlation_id: str) -> Knowledge:
        if self._known is None or self.clock() - self._at > self.ttl_s:
            self._known = await self._read(BackendCaller(self.backends, correlation_id))
            self._at = self.clock()
        return self._known

    async def _read(self, calls: BackendCaller) -> Knowledge:
        seen, rules, audit, detector = await asyncio.gather(
            self.index.query(Query(since=time.time() - SEEN_S, limit=SCAN)),
            _quietly(calls, "remediator", "/rules", None),
            _quietly(calls, "remediator", "/remediation/actions", {"limit": "500"}),
            _quietly(calls, "detector", "/anomaly/status", None),
        )
        items = seen[0]
        resources = {str(i["resource_id"]) for i in items if i.get("resource_id")}
        metrics = {str(i["metric"]) for i in items if i.get("metric")}
        if isinstance(audit, dict):
            records = [r for r in audit.get("items", []) if isinstance(r, dict)]
            resources |= {str(r["resource_id"]) for r in records if r.get("resource_id")}
        if isinstance(detector, dict):
            metrics |= {str(m) for m in detector.get("multivariate_metrics") or []}
        names = set()
        if isinstance(rules, dict):
            names = {str(r.get("name")) for r in rules.get("rules", []) if isinstance(r, dict)}
        return Knowledge(
            resources=frozenset(resources), metrics=frozenset(metrics), rules=frozenset(names)
        )


async def _quietly(
    calls: BackendCaller, service: str, path: str, params: dict[str, str] | None
) -> Any:
    try:
        return await calls.get(service, path, params)
    except (BackendUnavailableError, KeyError):
        return None

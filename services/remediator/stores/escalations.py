"""Escalations: after an action that did not improve its metric, the next action on the same
target (or resource) waits for a person, whatever the rule, the risk or auto-approval say.

A flag per target key and per resource id, with an expiry (``SCOPS_ESCALATION_TTL_S``); a
person's approval of an action on that target clears it.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from services.remediator.core.action_requests import ActionRequest
from services.remediator.stores import redis_keys


def _names(request: ActionRequest) -> list[str]:
    names = [request.target.key, *request.target.members]
    return [*dict.fromkeys(names), f"resource:{request.incident.resource_id}"]


class Escalations:
    def __init__(self, client: redis.Redis, *, ttl_s: float) -> None:
        self.redis = client
        self.ttl_ms = int(ttl_s * 1000)

    def escalate(self, request: ActionRequest, why: str) -> None:
        value = json.dumps({"why": why, "run_id": request.run_id, "target": request.target.key})
        with self.redis.pipeline(transaction=True) as pipe:
            for name in _names(request):
                pipe.set(redis_keys.escalation(name), value, px=self.ttl_ms)
            pipe.execute()

    def reason(self, request: ActionRequest) -> str | None:
        """Why the next action on this request's target needs a person, or None."""
        return reason_from(self.redis.mget(self.flags(request)))

    def flags(self, request: ActionRequest) -> list[str]:
        """The keys whose values :func:`reason_from` reads (MGET, e.g. in a pipeline)."""
        return [redis_keys.escalation(n) for n in _names(request)]

    def clear(self, request: ActionRequest) -> None:
        self.redis.delete(*[redis_keys.escalation(n) for n in _names(request)])

    def active(self, limit: int = 100) -> list[dict[str, Any]]:
        found = []
        for key in self.redis.scan_iter(match=redis_keys.escalation("*"), count=500):
            name = key.decode().removeprefix(redis_keys.escalation(""))
            raw = self.redis.get(key)
            if raw is not None and not name.startswith("resource:"):
                found.append({"target": name, **json.loads(raw)})
            if len(found) >= limit:
                break
        return sorted(found, key=lambda e: str(e["target"]))


def reason_from(values: list[bytes | None]) -> str | None:
    """The first escalation's reason among the values of :meth:`Escalations.flags`."""
    for raw in values:
        if raw is not None:
            why: str = json.loads(raw)["why"]
            return why
    return None

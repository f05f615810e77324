"""Calls from ChatOps to the services that own the data, through the gateway's
:class:`~services.gateway.proxy.Backends` (internal token, correlation id, timeouts).

A call answers a :class:`BackendReply` whatever the status; only "could not be reached" and
"did not answer in time" (502/504 from the proxy itself) are raised, as
:class:`BackendUnavailableError`, because no answer can be built from them.
"""

from __future__ import annotations

import json
from typing import Any

from services.gateway.backend_reply import BackendReply
from services.gateway.proxy import Backends

__all__ = ["BackendCaller", "BackendReply", "BackendUnavailableError"]


class BackendUnavailableError(Exception):
    """A service needed gave no answer. ``maybe_done``: a call that changes something timed
    out after it was sent, so the service may have done it (it does not stop when the gateway
    gives up): the person must check before asking again, not be told nothing was done."""

    def __init__(self, service: str, detail: str, *, maybe_done: bool = False) -> None:
        self.service = service
        self.detail = detail
        self.maybe_done = maybe_done
        super().__init__(detail)

    def outcome(self) -> str:
        """What the person is told of their request after the reason."""
        if self.maybe_done:
            return (
                "It may have been done all the same: check (`what happened to <resource>?`, "
                "`pending approvals`) before asking again"
            )
        return "Nothing was done"


class BackendCaller:
    def __init__(self, backends: Backends, correlation_id: str) -> None:
        self.backends = backends
        self.correlation_id = correlation_id

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
    ) -> BackendReply:
        response = await self.backends.forward(
            service,
            method,
            path,
            principal=None,
            correlation_id=self.correlation_id,
            body=body,
            params=params,
        )
        try:
            parsed: Any = json.loads(bytes(response.body)) if response.body else None
        except ValueError:
            parsed = None
        reply = BackendReply(response.status_code, parsed)
        if reply.status in (502, 504) and _from_proxy(service, reply.problem_detail()):
            timed_out = reply.status == 504 and method not in ("GET", "HEAD")
            raise BackendUnavailableError(service, reply.problem_detail(), maybe_done=timed_out)
        return reply

    async def get(self, service: str, path: str, params: dict[str, str] | None = None) -> Any:
        reply = await self.call(service, "GET", path, params=params)
        if not reply.ok:
            raise BackendUnavailableError(
                service, f"the {service} answered {reply.status}: {reply.problem_detail()}"
            )
        return reply.body


def _from_proxy(service: str, detail: str) -> bool:
    """The proxy's own 502/504 (the backend never answered), not one the backend sent."""
    return detail in (f"the {service} cannot be reached", f"the {service} did not answer in time")

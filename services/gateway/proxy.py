"""Forwarding public calls to the service that owns them.

The gateway adds the internal service token, the correlation id and who is acting; a backend
that cannot be reached is a 502 problem, one that does not answer in time a 504. A body that
JSON cannot carry on (``NaN``, ``Infinity``, nested deeper than ``json_bounds.MAX_DEPTH``) is
a 422 problem naming where, and nothing is forwarded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import structlog
from fastapi import Response

from services.gateway.acting import actor_headers, person_headers
from services.gateway.auth import Principal
from shared.json_bounds import JsonBoundsError, check_bounds
from shared.web import CORRELATION_HEADER, INTERNAL_TOKEN_HEADER, problem

#: Query parameters: by name, or as sent, in order (a name may come more than once: severity).
QueryParams = Mapping[str, str] | tuple[tuple[str, str], ...]

log = structlog.get_logger("gateway.proxy")
PASSED_HEADERS = ("content-type", "retry-after", "location", "content-disposition")


#: Sends a detector call to the process owning its series (or to all of them: status), when
#: several processes split the metric shards (see ``detector_routing``).
DetectorRoute = Callable[
    ["Backends", str, str, Principal | None, str, Any, QueryParams | None, float | None],
    Awaitable[Response],
]


class Backends:
    def __init__(self, client: httpx.AsyncClient, urls: dict[str, str], token: str) -> None:
        self.client = client
        self.urls = urls
        self.token = token
        # Every call to the detector, whoever makes it (API routes, ChatOps, Slack buttons, the
        # console), goes to the process that owns the series once the gateway sets this.
        self.detector_route: DetectorRoute | None = None

    async def forward(
        self,
        service: str,
        method: str,
        path: str,
        *,
        principal: Principal | None,
        correlation_id: str,
        body: Any = None,
        params: QueryParams | None = None,
        timeout_s: float | None = None,
    ) -> Response:
        """Send one call on; ``timeout_s`` replaces the client's timeout (a costly route's
        longer one)."""
        if service == "detector" and self.detector_route is not None:
            return await self.detector_route(
                self, method, path, principal, correlation_id, body, params, timeout_s
            )
        return await self.forward_to(
            self.urls[service],
            service,
            method,
            path,
            principal=principal,
            correlation_id=correlation_id,
            body=body,
            params=params,
            timeout_s=timeout_s,
        )

    async def forward_to(
        self,
        base_url: str,
        service: str,
        method: str,
        path: str,
        *,
        principal: Principal | None,
        correlation_id: str,
        body: Any = None,
        params: QueryParams | None = None,
        timeout_s: float | None = None,
    ) -> Response:
        """``forward`` to one process of ``service`` (the detector that owns a series)."""
        try:
            check_bounds(body)
        except JsonBoundsError as exc:
            return problem(
                422,
                "Invalid request",
                str(exc),
                errors=[{"field": exc.where, "pointer": exc.pointer, "reason": exc.reason}],
            )
        headers = {INTERNAL_TOKEN_HEADER: self.token, CORRELATION_HEADER: correlation_id}
        if principal is not None:
            headers |= actor_headers(principal.actor, principal.role.value)
        headers |= person_headers(principal.person if principal is not None else None)
        url = base_url + path
        try:
            timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else timeout_s
            reply = await self.client.request(
                method, url, json=body, params=params, headers=headers, timeout=timeout
            )
        except httpx.InvalidURL:
            return problem(400, "Bad request", "path: not a valid resource name")
        except httpx.TimeoutException:
            log.warning("backend_timeout", service=service, path=path)
            return problem(504, "Gateway timeout", f"the {service} did not answer in time")
        except httpx.TransportError as exc:
            log.warning("backend_unreachable", service=service, error=type(exc).__name__)
            return problem(502, "Bad gateway", f"the {service} cannot be reached")
        passed = {k: v for k, v in reply.headers.items() if k.lower() in PASSED_HEADERS}
        return Response(reply.content, status_code=reply.status_code, headers=passed)

    async def get_json(
        self, service: str, path: str, correlation_id: str, base_url: str | None = None
    ) -> Any:
        """A backend's JSON answer for the gateway's own use (ChatOps, status)."""
        reply = await self.client.get(
            (base_url or self.urls[service]) + path,
            headers={INTERNAL_TOKEN_HEADER: self.token, CORRELATION_HEADER: correlation_id},
        )
        reply.raise_for_status()
        return reply.json()

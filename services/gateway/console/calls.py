"""The console's calls to the services behind the gateway, made as the API makes them.

Reads go through :meth:`Backends.forward` with the signed-in key's principal (internal token,
correlation id, ``X-Actor``, ``X-Actor-Role``, ``X-Actor-Person``). Actions are looked up in
the API's own route table (:data:`services.gateway.routes_proxy.ROUTES`): the role that table
names is required, the call counts against the key's per-minute budget as the API call would,
and the table's actor field is filled from the key, never from the form.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request

from services.gateway.api_keys import key_of
from services.gateway.backend_reply import BackendReply
from services.gateway.console.guard import ConsoleUser, Refused
from services.gateway.deps import gateway
from services.gateway.proxy import Backends
from services.gateway.routes_proxy import ROUTES, Route, limiter

ROUTE_TABLE: dict[tuple[str, str], Route] = {(r.method, r.path): r for r in ROUTES}


class ConsoleCalls:
    def __init__(self, request: Request, user: ConsoleUser) -> None:
        self.request = request
        self.user = user
        self.backends: Backends = gateway(request).backends

    @property
    def correlation_id(self) -> str:
        return str(self.request.scope.get("state", {}).get("correlation_id", ""))

    def has(self, service: str) -> bool:
        return service in self.backends.urls

    async def read(
        self, service: str, path: str, params: dict[str, str] | None = None
    ) -> BackendReply:
        if not self.has(service):
            return BackendReply(503, {"detail": f"no {service} is configured for this gateway"})
        return await self._forward(service, "GET", path, None, params)

    async def act(
        self, method: str, template: str, path: str, body: dict[str, Any] | None = None
    ) -> BackendReply:
        """The API's ``method template`` route on the concrete ``path``, as this user."""
        route = ROUTE_TABLE[(method, template)]
        if not self.user.may(route.role):
            raise Refused(
                403, f"{key_of(self.user.principal.role)} may not do this: it needs {route.role}"
            )
        try:
            await limiter(self.request, route).enforce(self.user.principal.key_id)
        except HTTPException as exc:
            raise Refused(exc.status_code, str(exc.detail)) from None
        if route.actor_field is not None and body is not None:
            body = {**body, route.actor_field: self.user.principal.actor}
        return await self._forward(route.service, method, path, body, None)

    async def _forward(
        self,
        service: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None,
    ) -> BackendReply:
        response = await self.backends.forward(
            service,
            method,
            path,
            principal=self.user.principal,
            correlation_id=self.correlation_id,
            body=body,
            params=params,
        )
        try:
            parsed: Any = json.loads(bytes(response.body)) if response.body else None
        except ValueError:
            parsed = None
        return BackendReply(response.status_code, parsed)

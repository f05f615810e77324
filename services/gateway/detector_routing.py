"""Which detector process a call goes to, when several split the metric shards.

Process i of N owns shards i, i+N, ... (``SCOPS_DETECTOR_URLS`` lists them in that order; each
runs with the matching ``SCOPS_DETECTOR_SHARDS``, as ``scops up --detectors N`` does). A call
about a series goes to its owner, the only process holding its live state:

- ``POST /anomaly``: the owner of ``resource_id``;
- ``POST /anomaly/batch``: split by owner, sent at once, the answers merged in request order (an
  invalid batch is sent whole to one process, so that its problem names fields as sent);
- ``POST /anomaly/{id}/feedback``: the owner of the anomaly's series, read from the gateway's
  anomaly index (an anomaly not indexed yet goes to the first process);
- ``GET /anomaly/status``: every process, counters summed and shards listed together.

Everything else (training, model versions: shared by all processes through Redis) goes to the
first process.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
from fastapi import Response
from fastapi.responses import JSONResponse

from services.gateway.anomaly_index import AnomalyIndex
from services.gateway.auth import Principal
from services.gateway.proxy import Backends, DetectorRoute, QueryParams
from shared.streams import shard_of
from shared.web import problem

SERVICE = "detector"
_FEEDBACK = re.compile(r"^/anomaly/([^/]+)/feedback\Z")
_SUMMED = (
    "series_tracked",
    "series_warming_up",
    "samples_scored",
    "api_requests_admitted",
    "checkpointed_series",
    "unreadable_saved_series",
)


@dataclass(frozen=True)
class DetectorProcesses:
    urls: tuple[str, ...]
    shards: int

    @property
    def first(self) -> str:
        return self.urls[0]

    def owner(self, resource_id: str) -> str:
        return self.urls[shard_of(resource_id, self.shards) % len(self.urls)]


@dataclass(frozen=True)
class DetectorCall:
    """One forwarded call, to be sent to one or several detector processes."""

    backends: Backends
    method: str
    path: str
    principal: Principal | None
    correlation_id: str
    params: QueryParams | None
    timeout_s: float | None = None

    async def send(self, url: str, body: Any) -> Response:
        return await self.backends.forward_to(
            url,
            SERVICE,
            self.method,
            self.path,
            principal=self.principal,
            correlation_id=self.correlation_id,
            body=body,
            params=self.params,
            timeout_s=self.timeout_s,
        )


def route_through(processes: DetectorProcesses, index: AnomalyIndex) -> DetectorRoute:
    """The gateway's route for every detector call (``Backends.detector_route``)."""

    async def route(
        backends: Backends,
        method: str,
        path: str,
        principal: Principal | None,
        correlation_id: str,
        body: Any,
        params: QueryParams | None,
        timeout_s: float | None,
    ) -> Response:
        call = DetectorCall(backends, method, path, principal, correlation_id, params, timeout_s)
        return await forward(processes, index, call, body)

    return route


async def forward(
    processes: DetectorProcesses, index: AnomalyIndex, call: DetectorCall, body: Any
) -> Response:
    if len(processes.urls) == 1:
        return await call.send(processes.first, body)
    if call.method == "POST" and call.path == "/anomaly":
        resource = body.get("resource_id") if isinstance(body, dict) else None
        url = processes.owner(resource) if isinstance(resource, str) else processes.first
        return await call.send(url, body)
    if call.method == "POST" and call.path == "/anomaly/batch":
        return await _batch(processes, call, body)
    if call.method == "GET" and call.path == "/anomaly/status":
        return await _status(processes, call)
    feedback = _FEEDBACK.match(call.path)
    if call.method == "POST" and feedback is not None:
        found = await index.get(unquote(feedback.group(1)))
        resource = found.get("resource_id") if found else None
        url = processes.owner(resource) if isinstance(resource, str) else processes.first
        return await call.send(url, body)
    return await call.send(processes.first, body)


async def _batch(processes: DetectorProcesses, call: DetectorCall, body: Any) -> Response:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not (
        isinstance(requests, list)
        and requests
        and all(isinstance(r, dict) and isinstance(r.get("resource_id"), str) for r in requests)
    ):
        return await call.send(processes.first, body)
    groups: dict[str, list[int]] = {}
    for position, request in enumerate(requests):
        groups.setdefault(processes.owner(request["resource_id"]), []).append(position)
    if len(groups) == 1:
        return await call.send(next(iter(groups)), body)
    replies = await asyncio.gather(
        *(
            call.send(url, {**body, "requests": [requests[i] for i in positions]})
            for url, positions in groups.items()
        )
    )
    for url, reply in zip(groups, replies, strict=True):
        if reply.status_code == 422:
            return await call.send(url, body)  # its problem then names fields as sent
        if reply.status_code != 200:
            return reply
    merged: list[Any] = [None] * len(requests)
    for positions, reply in zip(groups.values(), replies, strict=True):
        for position, answer in zip(positions, json.loads(bytes(reply.body)), strict=True):
            merged[position] = answer
    return Response(json.dumps(merged).encode(), media_type="application/json")


async def _status(processes: DetectorProcesses, call: DetectorCall) -> Response:
    try:
        answers = await asyncio.gather(
            *(
                call.backends.get_json(SERVICE, call.path, call.correlation_id, base_url=url)
                for url in processes.urls
            )
        )
    except httpx.TimeoutException:
        return problem(504, "Gateway timeout", "a detector process did not answer in time")
    except httpx.HTTPError:
        return problem(502, "Bad gateway", "a detector process cannot be reached")
    merged: dict[str, Any] = dict(answers[0])
    for name in _SUMMED:
        if all(isinstance(a.get(name), int) for a in answers):
            merged[name] = sum(a[name] for a in answers)
    merged["shards"] = sorted(s for a in answers for s in a.get("shards", []))
    merged["processes"] = len(answers)
    return JSONResponse(merged)

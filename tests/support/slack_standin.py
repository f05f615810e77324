"""A real HTTP server standing in for Slack's incoming webhook: records every request and
answers from a script (e.g. 500, 500, 500, then 200). Any path under ``/services/`` is a
webhook; a revoked one answers 404 ``no_service`` as Slack does for a deleted webhook. With
``echo_request_in_errors()`` every error answer repeats the request's path and URL, as careless
receivers and proxies do."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from scops.local_redis import free_port


@dataclass
class Received:
    at: float
    body: dict[str, Any]
    status: int
    path: str = ""


@dataclass
class SlackStandIn:
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    script: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    revoked: set[str] = field(default_factory=set)
    echo: bool = False
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.webhook("XXXX")

    def webhook(self, token: str) -> str:
        """Another webhook on the same server (e.g. a rotated one)."""
        return f"http://127.0.0.1:{self.port}/services/T000/B000/{token}"

    def revoke(self, token: str) -> None:
        self.revoked.add(f"/services/T000/B000/{token}")

    def answer(self, status: int, headers: dict[str, str] | None = None, times: int = 1) -> None:
        for _ in range(times):
            self.script.append((status, headers or {}))

    def echo_request_in_errors(self) -> None:
        self.echo = True

    def _error_text(self, text: str, request: Request) -> str:
        if not self.echo:
            return text
        return (
            f"{text}: POST {request.url.path} refused (url {request.url}; path={request.url.path})"
        )

    @property
    def accepted(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.status == 200]

    async def _hook(self, request: Request) -> PlainTextResponse:
        body = json.loads(await request.body())
        path = request.url.path
        if path in self.revoked:
            self.received.append(Received(time.monotonic(), body, 404, path))
            return PlainTextResponse(self._error_text("no_service", request), 404)
        status, headers = self.script.popleft() if self.script else (200, {})
        self.received.append(Received(time.monotonic(), body, status, path))
        text = "ok" if status == 200 else self._error_text("error", request)
        return PlainTextResponse(text, status, headers=headers)

    def start(self) -> SlackStandIn:
        app = Starlette(routes=[Route("/services/{rest:path}", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()))  # type: ignore[union-attr]
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("slack stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.accepted

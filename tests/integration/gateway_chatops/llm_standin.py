"""A real HTTP server on loopback standing in for an OpenAI-compatible chat completions API:
answers each user message with a canned completion (after an optional delay) and records
what it was sent."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from scops.local_redis import free_port

NONE = '{"intent": "none"}'


@dataclass
class Asked:
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def user_text(self) -> str:
        return str(self.body["messages"][-1]["content"])


@dataclass
class LlmStandIn:
    canned: dict[str, tuple[str, float]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    asked: list[Asked] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def answer(self, text: str, content: str | dict[str, Any], delay_s: float = 0.0) -> None:
        self.canned[text] = (content if isinstance(content, str) else json.dumps(content), delay_s)

    async def _completions(self, request: Request) -> JSONResponse:
        body = await request.json()
        asked = Asked(dict(request.headers), body)
        self.asked.append(asked)
        content, delay = self.canned.get(asked.user_text, (NONE, 0.0))
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse(
            {
                "id": "chatcmpl-standin",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
            }
        )

    def start(self) -> LlmStandIn:
        app = Starlette(routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("LLM stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

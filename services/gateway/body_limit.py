"""Refuse request bodies over the size limit before anything reads them (413).

A declared ``Content-Length`` over the limit is refused before the app runs; a body that
turns out larger while it is read (chunked, or lying about its length) raises
:class:`BodyTooLargeError`, an HTTP 413 that the app's problem handlers answer. Either way the
answer is a problem document carrying the request's ``X-Correlation-ID``, whichever side of
the correlation middleware this one sits.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.web import CorrelationIdMiddleware


class BodyTooLargeError(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _detail(max_bytes))


def _detail(max_bytes: int) -> str:
    return f"body: larger than the {max_bytes} bytes accepted"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ids_outside = "correlation_id" in scope.get("state", {})
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, ids_outside)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLargeError:
            if not started:  # read outside the app's handlers: answered here
                await self._refuse(scope, receive, send, ids_outside)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, ids_outside: bool) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content too large",
                "status": 413,
                "detail": _detail(self.max_bytes),
            }
        ).encode()

        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        given = scope.get("state", {}).get("correlation_id")
        if given is not None and not ids_outside:  # named inside, but answered out here
            headers.append((b"x-correlation-id", str(given).encode()))

        async def refusal(_scope: Scope, _receive: Receive, respond: Send) -> None:
            await respond({"type": "http.response.start", "status": 413, "headers": headers})
            await respond({"type": "http.response.body", "body": body})

        if ids_outside or given is not None:
            await refusal(scope, receive, send)
        else:  # refused before the correlation middleware ran: it names the request now
            await CorrelationIdMiddleware(refusal)(scope, receive, send)

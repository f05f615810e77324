"""Bound what a request body may cost before anything reads it, on every service.

A declared ``Content-Length`` over the limit is refused before the app runs; a body that
turns out larger while it is read (chunked, or lying about its length) raises
:class:`BodyTooLargeError`, an HTTP 413 that the app's problem handlers answer. A body that
stops arriving (a client that declares 100 bytes and sends 5, a chunked body that never
ends) raises :class:`BodyTimeoutError` once ``read_timeout_s`` passed since the app began
reading it: a 408 instead of a request held open for good. Either way the answer is a
problem document carrying the request's ``X-Correlation-ID``, whichever side of the
correlation middleware this one sits.
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.web import CorrelationIdMiddleware


class BodyTooLargeError(HTTPException):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _too_large(max_bytes))


class BodyTimeoutError(HTTPException):
    def __init__(self, timeout_s: float) -> None:
        # The rest of the body may still come: the connection is not reused for another request.
        super().__init__(408, _too_slow(timeout_s), headers={"Connection": "close"})


def _too_large(max_bytes: int) -> str:
    return f"body: larger than the {max_bytes} bytes accepted"


def _too_slow(timeout_s: float) -> str:
    return f"body: not received whole within {timeout_s:g} s"


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float = 60.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ids_outside = "correlation_id" in scope.get("state", {})
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, ids_outside, 413, _too_large(self.max_bytes))
            return
        seen = 0
        started = False
        whole = False  # the body is read (or the client left): later reads wait on disconnect
        deadline: float | None = None

        async def bounded_receive() -> Message:
            nonlocal seen, whole, deadline
            if whole:
                return await receive()
            if deadline is None:
                deadline = asyncio.get_running_loop().time() + self.read_timeout_s
            try:
                # A deadline on this task, not a task per read (``wait_for``): bodies come in
                # many small messages on the ingest paths.
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeoutError(self.read_timeout_s) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
                whole = not message.get("more_body", False)
            else:
                whole = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except (BodyTooLargeError, BodyTimeoutError) as exc:
            if not started:  # read outside the app's handlers: answered here
                await self._refuse(scope, receive, send, ids_outside, exc.status_code, exc.detail)

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        ids_outside: bool,
        status: int,
        detail: str,
    ) -> None:
        title = "Content too large" if status == 413 else "Request timeout"
        body = json.dumps(
            {"type": "about:blank", "title": title, "status": status, "detail": detail}
        ).encode()

        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 408:
            headers.append((b"connection", b"close"))
        given = scope.get("state", {}).get("correlation_id")
        if given is not None and not ids_outside:  # named inside, but answered out here
            headers.append((b"x-correlation-id", str(given).encode()))

        async def refusal(_scope: Scope, _receive: Receive, respond: Send) -> None:
            await respond({"type": "http.response.start", "status": status, "headers": headers})
            await respond({"type": "http.response.body", "body": body})

        if ids_outside or given is not None:
            await refusal(scope, receive, send)
        else:  # refused before the correlation middleware ran: it names the request now
            await CorrelationIdMiddleware(refusal)(scope, receive, send)

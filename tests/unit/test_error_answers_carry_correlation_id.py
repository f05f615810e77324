"""Every problem answer names its request: a 500 from an unhandled error and a 413 from the
body limit carry ``X-Correlation-ID``, wherever the body limit sits among the middlewares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import structlog.testing
from fastapi import FastAPI, Request

from shared.body_limit import BodyLimitMiddleware
from shared.settings import BaseServiceSettings
from shared.web import setup_app

LIMIT = 1024


def app_with_body_limit(*, inside_correlation: bool) -> FastAPI:
    app = FastAPI()
    if inside_correlation:  # added first: the correlation middleware wraps it
        app.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT)
    setup_app(app, "test", {}, settings=BaseServiceSettings(env="test"))
    if not inside_correlation:
        app.add_middleware(BodyLimitMiddleware, max_bytes=LIMIT)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/fails")
    async def fails() -> None:
        raise RuntimeError("boom")

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def chunks(total: int) -> AsyncIterator[bytes]:
    for _ in range(total // 256):
        yield b"x" * 256


@pytest.mark.parametrize("inside", [False, True])
async def test_a_413_carries_the_callers_correlation_id(inside: bool) -> None:
    async with client(app_with_body_limit(inside_correlation=inside)) as http:
        given = {"X-Correlation-ID": "req-413"}
        declared = await http.post("/echo", content=b"x" * (LIMIT + 1), headers=given)
        streamed = await http.post("/echo", content=chunks(LIMIT * 2), headers=given)
        fresh = await http.post("/echo", content=b"x" * (LIMIT + 1))
        small = await http.post("/echo", content=b"x" * LIMIT, headers=given)
    for reply in (declared, streamed):
        assert reply.status_code == 413, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.headers.get_list("x-correlation-id") == ["req-413"]
    assert fresh.status_code == 413
    assert len(fresh.headers.get_list("x-correlation-id")) == 1
    assert small.json() == {"size": LIMIT}


async def test_an_unhandled_error_answers_500_with_the_correlation_id() -> None:
    async with client(app_with_body_limit(inside_correlation=False)) as http:
        reply = await http.get("/fails", headers={"X-Correlation-ID": "req-500"})
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers["x-correlation-id"] == "req-500"
    assert "boom" not in reply.text


async def test_the_log_line_of_an_unhandled_error_names_the_request() -> None:
    """The one line with the traceback is found by the id the caller got back."""
    async with client(app_with_body_limit(inside_correlation=False)) as http:
        with structlog.testing.capture_logs() as logged:
            reply = await http.get("/fails", headers={"X-Correlation-ID": "req-500-log"})
    assert reply.headers["x-correlation-id"] == "req-500-log"
    (line,) = [entry for entry in logged if entry["event"] == "unhandled_error"]
    assert line["correlation_id"] == "req-500-log"
    assert line["error_type"] == "RuntimeError"

"""A method a path does not serve is a 405 whose Allow names every method the path serves; a
date and time is ISO 8601, never a number read as epoch seconds without a word; a boolean in
a body is true or false, not 0 or 1."""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Query
from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]
from pydantic import TypeAdapter, ValidationError

from services.gateway.ingest import IncomingSample
from services.remediator.api.routes_admin import DryRunIn
from shared.events import UtcDatetime
from shared.settings import BaseServiceSettings
from shared.web import setup_app


def _app() -> FastAPI:
    app = FastAPI()
    setup_app(app, "test", {}, settings=BaseServiceSettings(env="test"))
    router = APIRouter()

    @router.get("/silences")
    async def listed(until: Annotated[UtcDatetime | None, Query()] = None) -> list[str]:
        return [until.isoformat()] if until else []

    @router.post("/only-posted")
    async def posted() -> dict[str, str]:
        return {}

    @router.post("/silences")
    async def created() -> dict[str, str]:
        return {}

    @router.delete("/silences/{silence_id}")
    async def ended(silence_id: str) -> dict[str, str]:
        return {}

    app.include_router(router)
    return app


async def _call(method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path)


@pytest.mark.parametrize("method", ["OPTIONS", "DELETE", "PUT"])
async def test_a_405_names_every_method_the_path_serves(method: str) -> None:
    reply = await _call(method, "/silences")
    assert reply.status_code == 405
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.headers["allow"] == "GET, HEAD, POST"
    assert "takes GET, HEAD, POST" in reply.json()["detail"]


async def test_a_405_on_a_path_with_a_parameter_names_its_methods() -> None:
    reply = await _call("GET", "/silences/abc")
    assert (reply.status_code, reply.headers["allow"]) == (405, "DELETE")


@pytest.mark.parametrize("value", ["0.5", "1700000000", "-3", "1e9"])
async def test_a_number_is_no_date_and_time(value: str) -> None:
    reply = await _call("GET", f"/silences?until={value}")
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "until"
    assert "not a number" in reply.json()["errors"][0]["reason"]
    with pytest.raises(ValidationError):
        TypeAdapter(UtcDatetime).validate_python(float(value))


async def test_an_iso_time_is_still_read() -> None:
    reply = await _call("GET", "/silences?until=2026-01-01T00:00:00")
    assert reply.json() == ["2026-01-01T00:00:00+00:00"]


@pytest.mark.parametrize("value", [0, 1, "true", "yes"])
def test_dry_run_is_switched_by_true_or_false_only(value: object) -> None:
    with pytest.raises(ValidationError):
        DryRunIn.model_validate({"enabled": value, "by": "ana"})
    assert DryRunIn.model_validate({"enabled": False, "by": "ana"}).enabled is False


@pytest.mark.parametrize("shape", ["{:.0f}", "{:.3f}", " {:.0f} ", "{:.0f}e0"])
def test_a_sample_time_in_seconds_written_as_text_is_refused(shape: str) -> None:
    """The document says a sample's time is ISO 8601 text or a number of seconds; a number
    written as text is neither, and is refused saying so (it was read as seconds)."""
    text = shape.format(time.time())
    schema = IncomingSample.model_json_schema()["properties"]["timestamp"]
    assert not Draft202012Validator(schema, format_checker=FormatChecker()).is_valid(text)
    sample = {"resource_id": "web-1", "metric": "cpu", "value": 1.0, "timestamp": text}
    with pytest.raises(ValidationError, match="is a JSON number, not text"):
        IncomingSample.model_validate(sample)
    assert IncomingSample.model_validate({**sample, "timestamp": float(text)}).timestamp


async def test_head_is_answered_wherever_get_is_without_a_body() -> None:
    """A 405 names HEAD among the methods a GET path allows, so HEAD is served there: the
    GET's status and headers, no body (RFC 9110, 9.1)."""
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path in ("/health", "/silences?until=2026-12-05T12:00:00Z", "/openapi.json"):
            got, head = await client.get(path), await client.head(path)
            assert head.status_code == got.status_code == 200, (path, head.headers)
            assert head.content == b""
            assert head.headers["content-type"] == got.headers["content-type"]
        refused = await client.head("/silences?until=0.5")  # refused as the GET would be
        assert refused.status_code == 422 and refused.content == b""
        post_only = await client.head("/only-posted")
        assert post_only.status_code == 405 and post_only.headers["allow"] == "POST"

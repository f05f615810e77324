"""A single-valued query parameter given twice is a 422 naming it; a list parameter takes every
value; a name a documented route with query parameters does not declare is a 422 naming it and
what the route takes; a route without query parameters ignores what is appended."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI, Query

from shared.settings import BaseServiceSettings
from shared.web import setup_app


def _filters(kind: str | None = None) -> str | None:
    return kind


def _app() -> FastAPI:
    app = FastAPI()
    setup_app(app, "test", {}, settings=BaseServiceSettings(env="test"))
    router = APIRouter()

    @router.get("/plain")
    async def plain() -> dict[str, object]:
        return {}

    @router.get("/page", include_in_schema=False)
    async def page(status: str | None = None) -> dict[str, object]:
        return {"status": status}

    @router.get("/items")
    async def items(
        status: str | None = None,
        severity: Annotated[list[str] | None, Query()] = None,
        kind: Annotated[str | None, Depends(_filters)] = None,
    ) -> dict[str, object]:
        return {"status": status, "severity": severity, "kind": kind}

    app.include_router(router)
    return app


async def _get(query: str, path: str = "/items") -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(f"{path}?{query}")


async def test_a_single_valued_parameter_given_twice_is_refused_naming_it() -> None:
    reply = await _get("status=blocked&status=succeeded")
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["errors"] == [
        {
            "field": "status",
            "pointer": "/status",
            "reason": "given more than once; it takes one value",
        }
    ]


async def test_one_declared_by_a_dependency_too() -> None:
    reply = await _get("kind=a&kind=b")
    assert reply.status_code == 422 and reply.json()["errors"][0]["field"] == "kind"


async def test_a_list_parameter_takes_every_value() -> None:
    reply = await _get("severity=critical&severity=high&status=open")
    assert reply.status_code == 200
    assert reply.json() == {"status": "open", "severity": ["critical", "high"], "kind": None}


async def test_a_misspelt_filter_is_refused_naming_it_and_what_the_route_takes() -> None:
    """``stauts=blocked`` used to be ignored: the whole list came back as if filtered."""
    reply = await _get("stauts=blocked&severity=high")
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert reply.json()["errors"] == [
        {
            "field": "stauts",
            "pointer": "/stauts",
            "reason": "not a parameter of this operation, which takes `kind`, `severity`, `status`",
        }
    ]


async def test_a_route_without_query_parameters_or_out_of_the_documents_ignores_extra_names() -> (
    None
):
    assert (await _get("_=1712345", path="/plain")).status_code == 200
    assert (await _get("status=a&next=/x", path="/page")).json() == {"status": "a"}

"""The gateway's API document with each forwarded operation described as its service
describes it: parameter types and patterns, the body's schema, the answer's schema.

The gateway forwards these operations without reading them, so its own declarations are
loose (every parameter a string, the body any object): a client generator or a fuzzer
reading only them sends what every service refuses. The services' documents are fetched once
they answer (retried in the background until each did) and merged in; until then, and for a
service that never answered, the loose declarations stand.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable
from typing import Any

import httpx
import structlog
from fastapi import FastAPI

from services.gateway.routes_proxy import Route

log = structlog.get_logger("gateway.documents")
RETRY_S = 5.0
_SCHEMAS = "#/components/schemas/"


def _renamed(node: Any, prefix: str) -> Any:
    """``node`` with every schema reference pointing at the prefixed name."""
    if isinstance(node, dict):
        return {
            k: (
                _SCHEMAS + prefix + v.removeprefix(_SCHEMAS)
                if k == "$ref" and isinstance(v, str) and v.startswith(_SCHEMAS)
                else _renamed(v, prefix)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_renamed(v, prefix) for v in node]
    return node


IGNORED_ACTOR = (
    "Who acts: the gateway sets it to its caller's name (from the API key), whatever is sent "
    "here; any value is accepted and ignored."
)


def _actor_ignored(schema: dict[str, Any], actor: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """One body schema (a reference, an object, or a choice of them, e.g. the object or
    ``null``) with the field naming who acts neither required nor constrained: the gateway
    replaces it with its caller's name, so no value of it is refused."""
    if "anyOf" in schema:
        return {
            **schema,
            "anyOf": [_actor_ignored(s, actor, schemas) for s in schema["anyOf"]],
        }
    ref = schema.get("$ref", "")
    target = schemas.get(ref.removeprefix(_SCHEMAS)) if ref.startswith(_SCHEMAS) else schema
    if not isinstance(target, dict) or actor not in target.get("properties", {}):
        return schema
    own = copy.deepcopy(target)
    own["required"] = [r for r in own.get("required", []) if r != actor]
    if not own["required"]:
        del own["required"]
    title = own["properties"][actor].get("title")
    own["properties"][actor] = {"description": IGNORED_ACTOR} | ({"title": title} if title else {})
    return own


def _without_actor(body: dict[str, Any], actor: str, schemas: dict[str, Any]) -> dict[str, Any]:
    """The body's schema with the field the gateway fills in (who acts) no longer required,
    and any value of it accepted (the gateway replaces it)."""
    for media in body.get("content", {}).values():
        media["schema"] = _actor_ignored(media.get("schema", {}), actor, schemas)
    return body


def merge(
    document: dict[str, Any], services: dict[str, dict[str, Any]], routes: Iterable[Route]
) -> dict[str, Any]:
    """``document`` (the gateway's) with the forwarded operations of ``routes`` taken from
    their services' ``services`` documents; a copy, ``document`` is left as it is."""
    merged = copy.deepcopy(document)
    schemas = merged.setdefault("components", {}).setdefault("schemas", {})
    prefixes: dict[str, str] = {}
    for name, doc in services.items():
        prefix = prefixes[name] = f"{name.capitalize()}_"
        for schema_name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas[prefix + schema_name] = _renamed(schema, prefix)
    for route in routes:
        service_doc = services.get(route.service)
        method = route.method.lower()
        ours = merged["paths"].get(route.path, {}).get(method)
        theirs = (service_doc or {}).get("paths", {}).get(route.path, {}).get(method)
        if ours is None or theirs is None:
            continue
        theirs = _renamed(theirs, prefixes[route.service])
        wanted = set(route.query) | {
            part.strip("{}") for part in route.path.split("/") if part.startswith("{")
        }
        parameters = [
            p
            for p in theirs.get("parameters", [])
            if p.get("in") != "header" and p["name"] in wanted
        ]
        if parameters:
            ours["parameters"] = parameters
        if route.example is not None and "requestBody" in theirs:
            body = theirs["requestBody"]
            if route.actor_field is not None:
                body = _without_actor(body, route.actor_field, schemas)
            for media in body.get("content", {}).values():
                # What "Try it out" sends as it is: a whole body that is accepted, not one
                # assembled from each field's own example (every target form at once, say).
                media["example"] = copy.deepcopy(route.example)
            ours["requestBody"] = body
        success = str(route.status)
        answer = theirs.get("responses", {}).get(success, {}).get("content")
        if answer and success in ours.get("responses", {}):
            ours["responses"][success]["content"] = answer
    return merged


async def fetch(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The documents of the services that answered."""
    found: dict[str, dict[str, Any]] = {}
    for name, url in urls.items():
        try:
            reply = await http.get(f"{url}/openapi.json", timeout=2.0)
            if reply.status_code == 200:
                found[name] = reply.json()
        except (httpx.HTTPError, ValueError):
            continue
    return found


def serve_merged(app: FastAPI, routes: Iterable[Route]) -> None:
    """``app.openapi`` answers the merged document once services' documents are held in
    ``app.state.service_documents`` (see :func:`keep_fetching`)."""
    build = app.openapi
    kept = tuple(routes)
    cache: dict[int, dict[str, Any]] = {}

    def openapi() -> dict[str, Any]:
        document = build()
        services: dict[str, dict[str, Any]] = getattr(app.state, "service_documents", {})
        if not services:
            return document
        key = id(services)
        if key not in cache:
            cache.clear()
            cache[key] = merge(document, services, kept)
        return cache[key]

    app.openapi = openapi  # type: ignore[method-assign]


async def keep_fetching(app: FastAPI, http: httpx.AsyncClient, urls: dict[str, str]) -> None:
    """Fetch the services' documents until every one answered (a service may start after
    the gateway); each round that finds more replaces what the gateway serves."""
    while True:
        found = await fetch(http, urls)
        if len(found) > len(getattr(app.state, "service_documents", {})):
            app.state.service_documents = found
            log.info("service_documents_merged", services=sorted(found))
        if len(found) == len(urls):
            return
        await asyncio.sleep(RETRY_S)

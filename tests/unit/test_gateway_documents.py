"""The gateway's document describes each forwarded operation as its service does (parameter
types, the body's schema, the answer's schema), except for who acts, which the gateway fills
in; without the services' documents its own loose declarations stand."""

from __future__ import annotations

from typing import Any

import pytest

from services.detector.app import create_app as detector_app
from services.gateway.app import create_app as gateway_app
from services.gateway.backend_documents import merge
from services.gateway.routes_proxy import ROUTES
from services.history.app import create_app as history_app
from services.notifier.app import create_app as notifier_app
from services.remediator.app import create_app as remediator_app


@pytest.fixture(scope="module")
def documents() -> tuple[dict[str, Any], dict[str, Any]]:
    services = {
        "detector": detector_app().openapi(),
        "remediator": remediator_app().openapi(),
        "notifier": notifier_app().openapi(),
        "history": history_app().openapi(),
    }
    loose = gateway_app().openapi()
    return loose, merge(loose, services, ROUTES)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: dict[str, Any] = document["components"]["schemas"][
        ref.removeprefix("#/components/schemas/")
    ]
    return found


def _body(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    return _resolve(document, content["schema"])


def _parameter(document: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        p for p in document["paths"][path][method]["parameters"] if p["name"] == name
    ]
    assert len(found) == 1
    return found[0]


def test_a_forwarded_body_is_documented_as_its_service_reads_it(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    loose, merged = documents
    assert "required" not in _body(loose, "/anomaly", "post")  # any object, before
    score = _body(merged, "/anomaly", "post")
    assert set(score["required"]) == {"resource_id", "metric"}
    assert "oneOf" in score and "points" in score["properties"]


def test_forwarded_parameters_have_their_services_types(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    loose, merged = documents
    assert _parameter(loose, "/notifications", "get", "limit")["schema"]["anyOf"][0] == {
        "type": "string"
    }
    assert _parameter(merged, "/notifications", "get", "limit")["schema"]["type"] == "integer"
    approval = _parameter(merged, "/remediation/approvals/{approval_id}", "get", "approval_id")
    assert approval["schema"]["pattern"] == "^[0-9a-f]{32}$"
    # Headers are the gateway's own business (it sets X-Actor-Person itself).
    names = [
        p["name"]
        for p in merged["paths"]["/remediation/approvals/{approval_id}/approve"]["post"][
            "parameters"
        ]
    ]
    assert "X-Actor-Person" not in names


def test_who_acts_is_filled_in_by_the_gateway_so_not_required(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, merged = documents
    decision = _body(merged, "/remediation/approvals/{approval_id}/approve", "post")
    assert "by" in decision["properties"] and "by" not in decision.get("required", [])


def test_every_reference_of_the_merged_document_resolves(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, merged = documents

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                _, _, kind, name = ref.split("/", 3)
                assert name in merged["components"][kind], ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(merged)


def test_a_body_is_optional_where_its_service_has_it_optional(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """The gateway takes a request without a body where the service does (its own
    declaration, not only the merged one): otherwise the document promises what it refuses."""
    loose, _ = documents
    services = {
        "remediator": remediator_app().openapi(),
        "notifier": notifier_app().openapi(),
    }
    optional = [
        (route.method.lower(), route.path)
        for route in ROUTES
        if route.service in services
        and "requestBody" in services[route.service]["paths"][route.path][route.method.lower()]
        and not services[route.service]["paths"][route.path][route.method.lower()][
            "requestBody"
        ].get("required")
    ]
    assert len(optional) >= 5
    for method, path in optional:
        body = loose["paths"][path][method]["requestBody"]
        assert not body.get("required"), (method, path)


def test_who_acts_is_documented_as_ignored_whatever_is_sent(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """The gateway replaces who acts with its caller's name, whatever the body said (even an
    empty or overlong name): the document accepts any value there, so that no value of it is
    promised to be refused."""
    _, merged = documents
    actors = [(r.method.lower(), r.path, r.actor_field) for r in ROUTES if r.actor_field]
    assert len(actors) >= 8
    for method, path, field in actors:
        media = merged["paths"][path][method]["requestBody"]["content"]["application/json"]
        schema = media["schema"]
        objects = [schema, *schema.get("anyOf", [])]
        found = [_resolve(merged, s) for s in objects if "$ref" in s or "properties" in s]
        assert found, (method, path)
        for body in found:
            assert field not in body.get("required", []), (method, path)
            described = body["properties"][field]
            assert set(described) <= {"description", "title"}, (method, path, described)


def test_try_it_out_starts_from_the_whole_example_each_forwarded_body_has(
    documents: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """The Swagger UI fills a body from the media type's example when there is one, else from
    each field's own example, which together can be refused (all three target forms at once,
    a window with both an end and a duration)."""
    _, merged = documents
    with_examples = [r for r in ROUTES if r.example is not None]
    assert len(with_examples) >= 10
    for route in with_examples:
        body = merged["paths"][route.path][route.method.lower()].get("requestBody")
        if body is None:
            continue
        assert body["content"]["application/json"]["example"] == route.example, route.path

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

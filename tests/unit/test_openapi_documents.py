"""The OpenAPI documents of the four services say what the services answer: every example is
valid for its own schema, every error is a problem document, and the gateway's forwarded routes
document what the service behind them answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from services.detector.app import create_app as detector_app
from services.detector.config import DetectorSettings
from services.gateway.app import create_app as gateway_app
from services.gateway.config import GatewaySettings
from services.gateway.routes_proxy import ROUTES, documented_problems
from services.history.app import create_app as history_app
from services.history.config import HistorySettings
from services.notifier.app import create_app as notifier_app
from services.notifier.config import NotifierSettings
from services.remediator.app import create_app as remediator_app
from services.remediator.config import RemediatorSettings
from shared.web import PROBLEM_JSON

Doc = dict[str, Any]
APPS: dict[str, Callable[[], Any]] = {
    "gateway": lambda: gateway_app(GatewaySettings(env="test")),
    "detector": lambda: detector_app(DetectorSettings(env="test")),
    "remediator": lambda: remediator_app(RemediatorSettings(env="test")),
    "notifier": lambda: notifier_app(NotifierSettings(env="test")),
    "history": lambda: history_app(HistorySettings(env="test")),
}
METHODS = ("get", "put", "post", "delete", "patch")


@cache
def openapi(service: str) -> Doc:
    document: Doc = APPS[service]().openapi()
    return document


def operations(doc: Doc) -> Iterator[tuple[str, Doc]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def _subschemas(schema: Any) -> Iterator[Any]:
    if not isinstance(schema, dict):
        return
    for key in ("properties", "patternProperties", "$defs"):
        yield from schema.get(key, {}).values()
    for key in ("items", "additionalProperties", "not", "contains"):
        if isinstance(schema.get(key), dict):
            yield schema[key]
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        yield from schema.get(key, [])


def _examples_in(where: str, schema: Any) -> Iterator[tuple[str, Any, Any]]:
    """(where, example, schema) for every ``examples`` of a schema and its subschemas."""
    for example in schema.get("examples", []) if isinstance(schema, dict) else []:
        yield where, example, schema
    for sub in _subschemas(schema):
        yield from _examples_in(where, sub)


def _media_examples(where: str, media: Doc) -> Iterator[tuple[str, Any, Any]]:
    schema = media.get("schema", {})
    if "example" in media:
        yield where, media["example"], schema
    for name, example in media.get("examples", {}).items():
        yield f"{where} ({name})", example.get("value"), schema
    yield from _examples_in(where, schema)


def every_example(doc: Doc) -> Iterator[tuple[str, Any, Any]]:
    """Every example a document holds, with the schema it must validate against."""
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        yield from _examples_in(f"components.schemas.{name}", schema)
    for label, operation in operations(doc):
        for parameter in operation.get("parameters", []):
            where = f"{label} parameter {parameter['name']}"
            yield from _media_examples(where, parameter)
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            yield from _media_examples(f"{label} body {media_type}", media)
        for status, response in operation["responses"].items():
            for media_type, media in response.get("content", {}).items():
                yield from _media_examples(f"{label} {status} {media_type}", media)


def validator(doc: Doc, schema: Any) -> Draft202012Validator:
    """A validator for one schema of the document, its ``#/components`` references resolved."""
    return Draft202012Validator({**schema, "components": doc.get("components", {})})


def errors_of(doc: Doc, example: Any, schema: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(doc, schema).iter_errors(example)
    ]


@pytest.mark.parametrize("service", APPS)
def test_every_example_is_valid_for_its_own_schema(service: str) -> None:
    doc = openapi(service)
    examples = list(every_example(doc))
    assert examples, "the document has examples"
    invalid = [
        f"{where}: {json.dumps(example)[:200]}: {errors}"
        for where, example, schema in examples
        if (errors := errors_of(doc, example, schema))
    ]
    assert invalid == []


@pytest.mark.parametrize("service", APPS)
def test_every_error_is_documented_as_a_problem_document(service: str) -> None:
    doc = openapi(service)
    wrong = []
    for label, operation in operations(doc):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and list(response.get("content", {})) != [PROBLEM_JSON]:
                wrong.append(f"{label} {status}: {list(response.get('content', {}))}")
            if "X-Correlation-ID" not in response.get("headers", {}):
                wrong.append(f"{label} {status}: no X-Correlation-ID")
    assert wrong == []
    assert "HTTPValidationError" not in json.dumps(doc)
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


@pytest.mark.parametrize("service", APPS)
def test_a_json_body_may_be_refused_as_malformed(service: str) -> None:
    doc = openapi(service)
    undocumented = [
        label
        for label, operation in operations(doc)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
        and "400" not in operation["responses"]
    ]
    assert undocumented == []


@pytest.mark.parametrize("service", APPS)
def test_rate_limits_and_busy_answers_say_when_to_come_back(service: str) -> None:
    doc = openapi(service)
    for label, operation in operations(doc):
        for status in ("429",):
            if status in operation["responses"]:
                headers = operation["responses"][status].get("headers", {})
                assert headers.get("Retry-After", {}).get("required") is True, label
    if service == "detector":
        busy = doc["paths"]["/anomaly/batch"]["post"]["responses"]["503"]
        assert "Retry-After" in busy["headers"]


def _backend_operation(method: str, path: str, service: str) -> Doc:
    operation: Doc = openapi(service)["paths"][path][method.lower()]
    return operation


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_a_forwarded_route_documents_what_its_service_answers(route: Any) -> None:
    backend = _backend_operation(route.method, route.path, route.service)
    gateway = openapi("gateway")["paths"][route.path][route.method.lower()]
    backend_success = [s for s in backend["responses"] if s.startswith("2")]
    gateway_success = [s for s in gateway["responses"] if s.startswith("2")]
    assert gateway_success == backend_success
    backend_problems = {s for s in backend["responses"] if int(s) >= 400}
    assert backend_problems <= set(gateway["responses"]), "every backend problem is documented"
    assert set(map(str, documented_problems(route))) <= set(gateway["responses"])


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.example is not None], ids=lambda r: f"{r.method} {r.path}"
)
def test_a_forwarded_routes_example_is_accepted_by_its_service(route: Any) -> None:
    """What the gateway sends for its own example (the acting key named in place of any actor
    field) is valid for the service behind it."""
    backend = _backend_operation(route.method, route.path, route.service)
    schema = backend["requestBody"]["content"]["application/json"]["schema"]
    sent = dict(route.example)
    if route.actor_field is not None:
        sent[route.actor_field] = "docs (key 0123456789ab)"
    assert errors_of(openapi(route.service), sent, schema) == []


def _every_schema(node: Any) -> Iterator[Doc]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _every_schema(value)
    elif isinstance(node, list):
        for value in node:
            yield from _every_schema(value)


@pytest.mark.parametrize("service", APPS)
def test_a_map_whose_keys_have_a_pattern_admits_no_other_key(service: str) -> None:
    """A map with patterned keys (labels, tags, an action's parameters) refuses a key outside
    the pattern: its schema says so (``patternProperties`` alone lets any other key through,
    with any value)."""
    doc = openapi(service)
    open_maps = [
        json.dumps(schema)[:200]
        for schema in _every_schema(doc)
        if isinstance(schema.get("patternProperties"), dict)
        and schema.get("additionalProperties") is not False
    ]
    assert open_maps == []


@pytest.mark.parametrize("service", ["detector", "remediator", "notifier"])
def test_an_operation_that_needs_the_internal_token_declares_it(service: str) -> None:
    """The internal token is a security requirement of the operations that refuse without it
    (401), so that a client, or a fuzzer checking that auth is not ignored, knows to send it."""
    doc = openapi(service)
    schemes = doc.get("components", {}).get("securitySchemes", {})
    token = [
        name
        for name, scheme in schemes.items()
        if scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-Internal-Token"}
    ]
    assert len(token) == 1, schemes
    undeclared = [
        label
        for label, operation in operations(doc)
        if "401" in operation["responses"] and {token[0]: []} not in operation.get("security", [])
    ]
    assert undeclared == []


def test_a_manual_request_documents_the_registered_actions() -> None:
    """An action that is not registered is refused (422 naming ``action``): the document
    lists the registered ones, so an action it admits is never refused as unknown."""
    from services.remediator.core.actions.catalogue import load_catalogue
    from services.remediator.core.actions.registry import build_registry

    settings = RemediatorSettings(env="test")
    registry = build_registry(load_catalogue(settings.script_catalogue_path))
    action = openapi("remediator")["components"]["schemas"]["ManualRequest"]["properties"]["action"]
    assert action["enum"] == sorted(registry)


# pydantic's names for bounds, which no JSON Schema reader knows: a bound documented so is not
# documented at all (a client, or a fuzzer, reads ``"duration_s": 1`` as valid)
NOT_JSON_SCHEMA = {"ge", "le", "gt", "lt", "min_length", "max_length", "multiple_of"}


def _misnamed_bounds(node: Any, path: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NOT_JSON_SCHEMA and not path.endswith("/properties"):
                yield f"{path}/{key}"
            yield from _misnamed_bounds(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _misnamed_bounds(value, f"{path}/{i}")


@pytest.mark.parametrize("service", APPS)
def test_every_bound_is_stated_in_json_schemas_words(service: str) -> None:
    assert list(_misnamed_bounds(openapi(service))) == []


def test_a_silences_duration_documents_its_bounds() -> None:
    schemas = openapi("notifier")["components"]["schemas"]
    duration = schemas["SilenceRequest"]["properties"]["duration_s"]
    integer = next(s for s in duration["anyOf"] if s.get("type") == "integer")
    assert (integer.get("minimum"), integer.get("maximum")) == (60, 30 * 86_400)

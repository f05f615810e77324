"""JSON from outside: non-finite numbers and deep nesting are refused with where they are."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.json_bounds import MAX_DEPTH, JsonBoundsError, check_bounds, loads_bounded


@pytest.mark.parametrize(
    ("text", "where", "pointer", "reason"),
    [
        ('{"value": NaN}', "value", "/value", "NaN is not a number"),
        (
            '{"samples": [{"value": 1}, {"value": Infinity}]}',
            "samples[1].value",
            "/samples/1/value",
            "Infinity",
        ),
        ("[-Infinity]", "[0]", "/0", "-Infinity"),
        ('{"a/b": {"c~d": 1e400}}', "a/b.c~d", "/a~1b/c~0d", "Infinity (or a number too large)"),
    ],
)
def test_non_finite_numbers_are_refused_where_they_are(
    text: str, where: str, pointer: str, reason: str
) -> None:
    with pytest.raises(JsonBoundsError) as refused:
        loads_bounded(text)
    assert (refused.value.where, refused.value.pointer) == (where, pointer)
    assert refused.value.reason.startswith(reason)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_nesting_up_to_the_limit_is_accepted_and_one_more_level_refused() -> None:
    assert loads_bounded(nested(MAX_DEPTH)) is not None
    with pytest.raises(JsonBoundsError, match=f"nested deeper than {MAX_DEPTH} levels"):
        loads_bounded(nested(MAX_DEPTH + 1))


def test_a_document_nested_100000_levels_is_refused_without_exhausting_recursion() -> None:
    with pytest.raises(JsonBoundsError) as refused:
        loads_bounded(nested(100_000))
    assert refused.value.where == "body"
    assert refused.value.located("payload") == "payload"


def test_the_first_offence_in_document_order_is_named() -> None:
    value: Any = json.loads('{"a": [1, 2, {"b": NaN}], "c": Infinity}')
    with pytest.raises(JsonBoundsError) as refused:
        check_bounds(value)
    assert refused.value.where == "a[2].b"
    assert refused.value.located("payload") == "payload.a[2].b"


def test_ordinary_documents_pass_unchanged() -> None:
    text = '{"resource_id": "web-1", "value": 97.5, "labels": {"env": "prod"}, "n": [1, -2e10]}'
    assert loads_bounded(text) == json.loads(text)


def test_what_is_not_json_is_a_plain_value_error() -> None:
    with pytest.raises(ValueError) as refused:
        loads_bounded("{not json")
    assert not isinstance(refused.value, JsonBoundsError)


def test_a_lone_surrogate_is_refused_where_it_is() -> None:
    """JSON may spell half of a UTF-16 pair alone; no UTF-8 encoder can write it on."""
    with pytest.raises(JsonBoundsError) as value:
        loads_bounded('{"matchers": {"resource_id": "web-\\ud800"}}')
    assert value.value.where == "matchers.resource_id"
    assert "lone surrogate U+D800 at position 4" in value.value.reason
    with pytest.raises(JsonBoundsError) as key:
        loads_bounded('{"labels": {"\\udfff": "x"}}')
    assert key.value.where == "labels" and "name" in key.value.reason
    assert loads_bounded('{"ok": "\\ud83d\\ude00"}') == {"ok": "\U0001f600"}  # a whole pair

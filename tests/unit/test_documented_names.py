"""The API documents state which characters a name may have, exactly as the validation does:
a client (or a fuzzer) that builds names from the documents is never refused for them, and
one that breaks the documented pattern always is."""

from __future__ import annotations

import re
import sys
import unicodedata

import jsonschema_rs
import pytest
from pydantic import BaseModel

from shared.identifiers import (
    LabelValue,
    NamePattern,
    ResourceId,
    hidden_character,
    visible_pattern,
)


class Names(BaseModel):
    resource_id: ResourceId = "web-1"
    value: LabelValue = ""
    glob: NamePattern = "*"


def _every_character() -> list[str]:
    # Surrogates are no characters: no UTF-8 text (and no JSON a client sends) carries them.
    return [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


@pytest.mark.parametrize("spaces", [False, True], ids=["words", "text"])
def test_the_documented_pattern_accepts_exactly_what_the_validation_accepts(spaces: bool) -> None:
    pattern = re.compile(visible_pattern(spaces=spaces))
    disagree = [
        f"U+{ord(char):04X}"
        for char in _every_character()
        if (pattern.fullmatch(char) is None) != (hidden_character(char, spaces=spaces) is not None)
    ]
    assert disagree == []


def test_the_pattern_reads_the_same_in_a_rust_schema_validator() -> None:
    """Schema validators (schemathesis' among them) compile patterns with Rust's engine, which
    refuses some spellings Python reads; a pattern it cannot compile is dropped silently."""
    for spaces, ok, refused in [
        (False, "i-0abc/zone:eu-west-1a.pod_ä", ["web 1", "web\x00", "web\u202e1", "a\U000e0041"]),
        (True, "Zürich ops", ["a\u00a0b", "a\nb", "a\u200bb", "a\U00100000"]),
    ]:
        validator = jsonschema_rs.validator_for(
            {"type": "string", "pattern": visible_pattern(spaces=spaces)}
        )
        assert validator.is_valid(ok)
        assert [text for text in refused if validator.is_valid(text)] == []


def test_the_json_schema_of_a_name_states_the_pattern() -> None:
    schema = Names.model_json_schema()["properties"]
    assert schema["resource_id"]["pattern"] == visible_pattern(spaces=False)
    assert schema["value"]["pattern"] == visible_pattern(spaces=True)
    assert schema["glob"]["pattern"] == visible_pattern(spaces=False)
    assert schema["resource_id"]["maxLength"] == 256  # the other constraints stay


def test_code_points_not_assigned_yet_are_accepted_as_the_documents_say() -> None:
    unassigned = "\u0378"
    assert unicodedata.category(unassigned) == "Cn"
    names = Names(resource_id=f"web{unassigned}1", value=f"a {unassigned}", glob=f"w{unassigned}*")
    assert names.resource_id == f"web{unassigned}1"

"""Audit log positions and durations that cannot exist are refused, or answered honestly."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.durations import (
    DURATION_INPUT_SCHEMA,
    MAX_DURATION_S,
    Duration,
    parse_duration,
)
from services.remediator.core.rules.loading import load_rules_text
from services.remediator.errors import RulesFileError
from services.remediator.stores.audit import AuditQuery, check_cursor, newest_bound


def test_the_page_before_the_oldest_possible_entry_is_empty() -> None:
    assert newest_bound(AuditQuery(cursor="0-0")) is None
    assert newest_bound(AuditQuery(cursor="0-1")) == "(0-1"
    assert newest_bound(AuditQuery(until=datetime(1, 1, 1, tzinfo=UTC))) is None
    assert newest_bound(AuditQuery(until=datetime(1969, 12, 31, 23, 59, tzinfo=UTC))) is None


def test_until_without_a_zone_is_utc_and_takes_the_whole_millisecond() -> None:
    bound = newest_bound(AuditQuery(until=datetime(1970, 1, 1, 0, 0, 1)))
    assert bound == f"1000-{2**64 - 1}"
    assert newest_bound(AuditQuery()) == "+"


@pytest.mark.parametrize(
    "cursor", ["99999999999999999999-0", "1-18446744073709551616", "1-", "-1", "²-1", "1-2-3"]
)
def test_cursors_that_cannot_be_stream_ids_are_refused(cursor: str) -> None:
    with pytest.raises(ValueError):
        check_cursor(cursor)


def test_the_largest_stream_id_is_a_valid_cursor() -> None:
    largest = f"{2**64 - 1}-{2**64 - 1}"
    assert check_cursor(largest) == largest


class Window(BaseModel):
    duration: Duration


@pytest.mark.parametrize("value", [1e12, 10**400, "3651d", "9" * 400, float("inf")])
def test_a_duration_over_ten_years_is_refused_naming_the_maximum(value: object) -> None:
    with pytest.raises(ValidationError, match=r"at most 3650d \(ten years\)"):
        Window(duration=value)


@pytest.mark.parametrize("value", [float("nan"), -1, -(10**400), True, "soon"])
def test_what_is_not_a_duration_is_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        Window(duration=value)


def test_ten_years_is_accepted() -> None:
    assert parse_duration("3650d") == MAX_DURATION_S
    assert Window(duration=MAX_DURATION_S).model_dump(mode="json") == {"duration": "3650d"}


def test_a_rules_file_with_an_endless_cooldown_is_refused_at_its_line(
    registry: ActionRegistry,
) -> None:
    text = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    cooldown: 99999d
    actions:
      - action: restart_service
        params: {service: nginx}
"""
    with pytest.raises(RulesFileError) as refused:
        load_rules_text(text, "rules.yaml", registry)
    assert refused.value.problems[0].line == 5
    assert "at most 3650d" in refused.value.problems[0].reason


@pytest.mark.parametrize("text", ["\uff12h", "\u0662h", "\uff12", "\t2h", "2h\n", "\u20032h"])
def test_a_duration_the_document_refuses_is_refused(text: str) -> None:
    """Full-width or other digits, tabs, line breaks: not the documented pattern (ASCII
    digits and plain spaces), which schema-driven clients check against."""
    texts = [s for s in DURATION_INPUT_SCHEMA["anyOf"] if isinstance(s, dict) and "pattern" in s]
    pattern = texts[0]["pattern"]
    assert re.fullmatch(pattern, text, re.ASCII) is None
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
    assert parse_duration(" 1h 30m ") == 5400  # plain spaces are fine

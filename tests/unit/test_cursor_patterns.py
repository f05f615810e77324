"""Each page cursor's documented pattern is exactly what its list accepts: a cursor that
matches it is never refused, one that does not is (so a client, or a fuzzer, reading the
document knows which cursors are refused)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from services.gateway.anomaly_index import ANOMALY_CURSOR_PATTERN, valid_cursor
from services.history.core.cursors import (
    AUDIT_CURSOR_PATTERN,
    CursorError,
    read_audit_cursor,
    read_incident_cursor,
)
from services.remediator.stores.audit import check_cursor
from shared.identifiers import STREAM_ENTRY_ID_PATTERN, STREAM_ID_PART_MAX, StreamEntryId
from shared.incidents import INCIDENT_CURSOR_PATTERN
from tests.unit.test_openapi_documents import openapi


def _accepts(read: Callable[[str], Any]) -> Callable[[str], bool]:
    def accepts(cursor: str) -> bool:
        try:
            read(cursor)
        except CursorError:
            return False
        return True

    return accepts


CURSORS = {
    "audit": (AUDIT_CURSOR_PATTERN, _accepts(read_audit_cursor)),
    "anomalies": (ANOMALY_CURSOR_PATTERN, valid_cursor),
    "incidents": (INCIDENT_CURSOR_PATTERN, _accepts(read_incident_cursor)),
}
DOCUMENTED = [
    ("history", "/audit", "audit"),
    ("history", "/incidents", "incidents"),
    ("gateway", "/anomalies", "anomalies"),
]


@pytest.mark.parametrize(("service", "path", "cursor"), DOCUMENTED)
def test_the_document_states_the_cursors_pattern(service: str, path: str, cursor: str) -> None:
    (parameter,) = [
        p for p in openapi(service)["paths"][path]["get"]["parameters"] if p["name"] == "cursor"
    ]
    # (beside the choice of a string or null: a pattern concerns strings only)
    assert parameter["schema"]["pattern"] == CURSORS[cursor][0]


@pytest.mark.parametrize("cursor", sorted(CURSORS))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_cursor_is_accepted_exactly_when_it_matches_the_pattern(
    cursor: str, data: st.DataObject
) -> None:
    pattern, accepts = CURSORS[cursor]
    text = data.draw(
        st.one_of(
            st.from_regex(pattern, fullmatch=True),
            st.text(alphabet="0123456789abcdef.:-+eE_ x", max_size=60),
            st.text(max_size=10),
        )
    )
    assert accepts(text) == bool(re.fullmatch(pattern, text)), text


def _stream_entry_id_accepted(text: str) -> bool:
    try:
        TypeAdapter(StreamEntryId).validate_python(text)
    except ValidationError:
        return False
    return True


def _audit_log_cursor_accepted(text: str) -> bool:
    try:
        check_cursor(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    "accepts", [_stream_entry_id_accepted, _audit_log_cursor_accepted], ids=["entry", "cursor"]
)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_stream_entry_id_is_accepted_exactly_when_it_matches_the_pattern(
    accepts: Callable[[str], bool], data: st.DataObject
) -> None:
    """Each part of an entry id is at most 2^64 - 1: the pattern says so, digit by digit."""
    near = st.integers(STREAM_ID_PART_MAX - 10**6, STREAM_ID_PART_MAX + 10**6).map(str)
    part = st.one_of(near, st.integers(0, 10**21).map(str), st.from_regex(r"\A0{0,3}[0-9]{1,20}\Z"))
    text = data.draw(
        st.one_of(
            st.tuples(part, part).map("-".join),
            st.from_regex(STREAM_ENTRY_ID_PATTERN, fullmatch=True),
            st.text(alphabet="0123456789-", max_size=45),
        )
    )
    assert accepts(text) == bool(re.fullmatch(STREAM_ENTRY_ID_PATTERN, text)), text


def test_the_documents_state_the_stream_entry_id_pattern() -> None:
    (cursor,) = [
        p
        for p in openapi("remediator")["paths"]["/remediation/actions"]["get"]["parameters"]
        if p["name"] == "cursor"
    ]
    # (beside the choice of a string or null: a pattern concerns strings only)
    assert cursor["schema"]["pattern"] == STREAM_ENTRY_ID_PATTERN
    replay = openapi("notifier")["components"]["schemas"]["ReplayRequest"]["properties"]
    assert replay["entry_ids"]["anyOf"][0]["items"]["pattern"] == STREAM_ENTRY_ID_PATTERN

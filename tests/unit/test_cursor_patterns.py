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

from services.gateway.anomaly_index import ANOMALY_CURSOR_PATTERN, valid_cursor
from services.history.core.cursors import (
    AUDIT_CURSOR_PATTERN,
    CursorError,
    read_audit_cursor,
    read_incident_cursor,
)
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
    schema = parameter["schema"]["anyOf"][0]
    assert schema["pattern"] == CURSORS[cursor][0]


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

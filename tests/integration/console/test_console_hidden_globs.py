"""Globs with invisible or bidi characters (a maintenance window or silence that reads "web-*" and
matches nothing) are refused with the reason, and nothing is created."""

from __future__ import annotations

import re

from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient

LOOKS_LIKE_WEB = "web-\u200b*"  # zero-width space: reads "web-*", matches no "web-1"
REVERSED = "\u202e*-bd"  # right-to-left override: reads "db-*"


def test_globs_with_invisible_characters_are_refused(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    console.sign_in(console_stack.key("operator", "otto"))
    window = console.submit(
        "/console/maintenance",
        {"target_pattern": LOOKS_LIKE_WEB, "duration": "2h", "reason": "kernel upgrade"},
    )
    told = console.after(window).text
    silence = console.submit(
        "/console/silences", {"resource": REVERSED, "metric": "*", "duration": "1h"}
    )
    told += console.after(silence).text
    assert "U+200B" in told and "U+202E" in told  # the reason, told to the person
    safety = console.page("/console/safety").text
    silences = console.page("/console/silences").text
    shown_window = re.findall(r"<td><code>([^<]*)</code></td>", safety)
    shown_silence = re.findall(r"<td><code>([^<]*)</code></td>", silences)
    assert LOOKS_LIKE_WEB not in shown_window, "a window reading 'web-*' that matches no web-1"
    assert REVERSED not in shown_silence, "a silence reading 'db-*' that matches no db-1"
    operator = console_stack.key("operator", "olga")
    refused = {
        "target_pattern": console_stack.api(
            "POST",
            "/remediation/maintenance",
            operator,
            json={"target_pattern": LOOKS_LIKE_WEB, "duration": "2h", "reason": "r"},
        ),
        "matchers.resource": console_stack.api(
            "POST",
            "/notifications/silences",
            operator,
            json={"matchers": {"resource": REVERSED}, "duration_s": 3600},
        ),
    }
    for field, reply in refused.items():
        assert reply.status_code == 422, (field, reply.text)
        assert field in [e["field"] for e in reply.json()["errors"]], reply.text

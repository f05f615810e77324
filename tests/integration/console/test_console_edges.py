"""Every console answer carries its security headers (pages, static files, errors the app answers
for it), and the series chart draws values at the ends of a float's range."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient

NEEDED = ("content-security-policy", "x-frame-options", "x-content-type-options")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console/static/missing.css"),
        ("GET", "/console/static/..%2F..%2Fapp.py"),
        ("GET", "/console/static/"),
        ("POST", "/console/"),
        ("POST", "/console/approvals"),
        ("PUT", "/console/sign-in"),
        ("DELETE", "/console/silences"),
    ],
)
def test_every_console_response_carries_the_security_headers(
    console_stack: ConsoleStack, console: ConsoleClient, method: str, path: str
) -> None:
    console.sign_in(console_stack.key("viewer", "vera"))
    reply = console.http.request(method, path)
    missing = [h for h in NEEDED if h not in reply.headers]
    assert not missing, (reply.status_code, dict(reply.headers))


def test_the_series_chart_draws_extreme_but_accepted_values(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    ingest = console_stack.key("ingest", "coll")
    now = datetime.now(UTC).replace(microsecond=0)
    samples = [
        {
            "resource_id": "extreme-1",
            "metric": "queue_depth",
            "value": v,
            "timestamp": (now - timedelta(seconds=30 - i)).isoformat(),
        }
        for i, v in enumerate([1.0, 1e100, -1e100, 2.0])  # the largest accepted
    ]
    accepted = console_stack.api("POST", "/v1/metrics", ingest, json={"samples": samples})
    assert accepted.status_code == 202, accepted.text
    console.sign_in(console_stack.key("viewer", "vera"))
    page = console.page("/console/series?resource_id=extreme-1&metric=queue_depth")
    assert page.status_code == 200
    assert "4 values of the last 60 minutes" in page.text, page.text
    drawn = re.search(r'<path class="values" d="([^"]*)"', page.text)
    assert drawn, page.text
    ticks = re.findall(r'<text class="axis"[^>]*>([^<]*)</text>', page.text)
    assert "nan" not in drawn.group(1).lower(), drawn.group(1)
    assert not [t for t in ticks if "nan" in t.lower()], ticks


def test_the_safety_page_says_nothing_is_changed_when_the_executor_is_dry_run(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """SCOPS_DRY_RUN is off here, but with no AWS configured the remediator's executor is
    dry-run: the page about what may act says that nothing is changed, as the overview does."""
    console.sign_in(console_stack.key("viewer", "vera"))
    page = console.page("/console/safety").text
    assert "executor is <strong>dry-run</strong>" in page and "nothing is changed" in page, page


def test_the_rules_page_names_every_condition_of_a_rules_match(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """The shipped error-rate rule acts only when CPU or memory is anomalous too: its row
    says so, not "error_rate* at critical on *" as if an error rate alone were enough."""
    console.sign_in(console_stack.key("viewer", "vera"))
    page = console.page("/console/rules").text
    row = page.split('<tr id="rule-error-rate-critical">')[1].split("</tr>")[0]
    when = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[1]
    assert "with <code>cpu_*, memory_*</code> anomalous too" in when, when

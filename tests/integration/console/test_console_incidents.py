"""Incident pages on a real history service: an anomaly published on the stream becomes an
incident whose page shows its timeline, and a link naming a later event of the episode (an
escalation, as approvals and alerts may) leads to the incident's page."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from shared.bus import EventBus
from shared.events import AnomalyEvent, Severity
from shared.streams import ANOMALIES
from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient

RESOURCE, METRIC = "queue-7", "queue_depth"  # no rule acts on it


def _publish(redis_url: str, *events: AnomalyEvent) -> None:
    async def go() -> None:
        client = Redis.from_url(redis_url)
        try:
            for event in events:
                await EventBus(client, 10_000).publish(ANOMALIES, event)
        finally:
            await client.aclose()

    asyncio.run(go())


def _anomaly(event_id: object, at: datetime, started: datetime, severity: Severity) -> AnomalyEvent:
    return AnomalyEvent(
        event_id=event_id,
        resource_id=RESOURCE,
        metric=METRIC,
        value=900.0,
        observed_at=at,
        score=0.99,
        severity=severity,
        expected_low=0.0,
        expected_high=120.0,
        model_version="test",
        explanation=f"{METRIC}=900 is above the expected 0 to 120",
        episode_started_at=started,
    )


def test_an_escalations_link_leads_to_its_incidents_timeline(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    opener = AnomalyEvent.derive_id(RESOURCE, METRIC, started)
    escalation = AnomalyEvent.derive_escalation_id(opener, Severity.CRITICAL)
    _publish(
        console_stack.redis_url,
        _anomaly(opener, started, started, Severity.HIGH),
        _anomaly(escalation, started + timedelta(minutes=2), started, Severity.CRITICAL),
    )
    console.sign_in(console_stack.key("viewer", "vera"))
    deadline = time.monotonic() + 30
    while True:
        page = console.page(f"/console/incidents/{escalation}")
        if page.status_code == 303 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert page.status_code == 303, page.text[:500]
    assert page.headers["location"] == f"/console/incidents/{opener}"
    deadline = time.monotonic() + 30
    while "kind-escalation" not in (shown := console.page(page.headers["location"])).text:
        assert time.monotonic() < deadline, shown.text[:2000]
        time.sleep(0.2)
    assert shown.status_code == 200
    assert f"{RESOURCE} / {METRIC}" in shown.text and "critical" in shown.text
    listed = console.page("/console/incidents?status=open")
    assert f"/console/incidents/{opener}" in listed.text


def test_an_unknown_or_malformed_incident_is_a_404_page(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    console.sign_in(console_stack.key("viewer", "vera"))
    for incident in ("00000000-0000-4000-8000-000000000000", "not-an-id"):
        reply = console.page(f"/console/incidents/{incident}")
        assert reply.status_code == 404 and reply.headers["content-type"].startswith("text/html")


def test_a_wrong_filter_on_a_list_page_is_a_400_page_naming_the_field(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    console.sign_in(console_stack.key("viewer", "vera"))
    long_name = "r" * 400
    for path, field in (
        ("/console/incidents?cursor=zzz", "cursor"),
        ("/console/incidents?status=zzz&severity=high", "status"),
        ("/console/incidents?status=open&severity=zz", "severity"),
        ("/console/incidents?outcome=nope", "outcome"),
        (f"/console/incidents?resource_id={long_name}", "resource_id"),
        ("/console/anomalies?min_severity=zzz", "min_severity"),
        (f"/console/anomalies?resource_id={long_name}", "resource_id"),
    ):
        reply = console.page(path)
        assert reply.status_code == 400, path
        assert reply.headers["content-type"].startswith("text/html")
        assert f"{field}:" in reply.text, path
        assert "unavailable" not in reply.text.lower(), path
    assert console.page("/console/incidents?status=closed&severity=high").status_code == 200


def test_a_manual_requests_page_says_so_and_links_no_series(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """A restart asked by hand has no anomaly nor metric behind it: its page is titled as the
    list names it ("manual request"), not "manual-9 / manual" with a link to an empty chart
    of a metric called "manual"."""
    operator = console_stack.key("operator", "olga")
    asked = console_stack.api(
        "POST",
        "/remediation/execute",
        operator,
        json={
            "action": "restart_service",
            "target": {"tags": {"Name": "manual-9"}},
            "params": {"service": "nginx"},
            "reason": "stuck workers",
        },
    )
    assert asked.status_code in (200, 202), asked.text
    deadline = time.monotonic() + 30
    while True:
        found = console_stack.api(
            "GET", "/incidents?resource_id=manual-9&status=closed", operator
        ).json()["items"]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    (incident,) = found
    assert incident["kind"] == "manual"
    console.sign_in(operator)
    page = console.page(f"/console/incidents/{incident['id']}").text
    title = page.split("<h1>")[1].split("</h1>")[0]
    assert title.startswith("manual-9 (manual request)"), title
    assert "metric=manual" not in page, page
    listed = console.page("/console/incidents?status=closed&resource_id=manual-9").text
    (row,) = [r for r in listed.split("<tr>") if "manual-9 (manual request)" in r]
    assert '<td class="text">restart_service</td>' in row, row  # no rule: no arrow before it

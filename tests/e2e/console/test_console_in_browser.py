"""The operator console in a real headless Chromium, on every real process: a real anomaly
opens an incident whose restart needs two people; one operator approves, then another, and
the timeline shows the approval and the action; a viewer cannot approve, and a form posted
without the session's CSRF token is refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.console.console_stack import (
    CHROMIUM,
    CHROMIUM_ARGS,
    INSTANCE,
    ConsoleStack,
    console_stack,
    raise_incident,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)"),
]


@pytest.fixture
def stack(redis_url: str, tmp_path: Path) -> Iterator[ConsoleStack]:
    with console_stack(redis_url, tmp_path) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def sign_in(browser: Any, stack: ConsoleStack, key: str, path: str) -> Any:
    """A new browser profile, signed in, on ``path`` (the sign-in page comes first)."""
    page = browser.new_context().new_page()
    page.goto(stack.url + path)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(stack.url + path)
    return page


def reload_until(page: Any, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in page.locator("main").inner_text():
            return
        page.wait_for_timeout(300)
        page.reload()
    raise AssertionError(f"{text!r} never appeared:\n{page.locator('main').inner_text()}")


def test_two_operators_approve_a_real_incidents_restart_and_the_timeline_shows_it(
    stack: ConsoleStack, browser: Any
) -> None:
    from playwright.sync_api import expect

    incident = raise_incident(stack)
    ana = sign_in(browser, stack, stack.key("operator", "ana"), "/console/incidents")
    row = ana.get_by_role("link", name=f"{INSTANCE} / cpu_utilization")
    expect(row).to_be_visible()
    row.click()
    ana.wait_for_url(f"**/console/incidents/{incident['id']}")
    timeline = ana.locator("ol.timeline")
    expect(timeline).to_contain_text("anomaly")
    expect(timeline).to_contain_text("pending_approval")
    card = ana.locator("article.approval")
    expect(card).to_contain_text("0 of 2 approvals")
    card.get_by_role("button", name="Approve").click()
    expect(ana.locator(".flash-ok")).to_contain_text("1 of 2 approvals")
    expect(ana.locator("article.approval")).to_contain_text("You have approved this")

    again = ana.locator("article.approval").get_by_role("button", name="Approve")
    again.click()
    expect(ana.locator(".flash-error")).to_contain_text("already approved")

    ben = sign_in(
        browser, stack, stack.key("operator", "ben"), f"/console/incidents/{incident['id']}"
    )
    expect(ben.locator("article.approval")).to_contain_text("1 of 2 approvals")
    ben.locator("article.approval").get_by_role("button", name="Approve").click()
    expect(ben.locator(".flash-ok")).to_contain_text("approved by")
    reload_until(ben, "dry_run")  # the restart ran (dry-run executor: no AWS here)
    steps = ben.locator("ol.timeline").inner_text()
    assert "approved" in steps and "restart_service" in steps, steps
    expect(ben.locator("article.approval")).to_have_count(0)


def test_a_viewer_sees_the_incident_but_cannot_approve_even_by_forging_the_form(
    stack: ConsoleStack, browser: Any
) -> None:
    from playwright.sync_api import expect

    incident = raise_incident(stack)
    path = f"/console/incidents/{incident['id']}"
    viewer = sign_in(browser, stack, stack.key("viewer", "vic"), path)
    expect(viewer.locator("ol.timeline")).to_contain_text("anomaly")
    card = viewer.locator("article.approval")
    expect(card).to_contain_text("Only an operator or admin may approve")
    expect(card.get_by_role("button", name="Approve")).to_have_count(0)
    approval_id = stack.api("/remediation/approvals", stack.key("viewer", "v2"))[0]["id"]
    csrf = viewer.locator('input[name="csrf"]').first.get_attribute("value")
    as_viewer = viewer.request.post(
        f"{stack.url}/console/approvals/{approval_id}/approve", form={"csrf": csrf}
    )
    assert as_viewer.status == 403, as_viewer.text()
    assert "needs operator" in as_viewer.text()

    operator = sign_in(browser, stack, stack.key("operator", "olly"), path)
    forged = operator.request.post(
        f"{stack.url}/console/approvals/{approval_id}/approve", form={"comment": "forged"}
    )
    assert forged.status == 403, forged.text()
    assert "CSRF" in forged.text()
    approval = stack.api(f"/remediation/approvals/{approval_id}", stack.key("viewer", "v3"))
    assert approval["approvers"] == [] and approval["state"] == "pending"


def test_long_unbroken_names_and_texts_wrap_inside_the_page(
    stack: ConsoleStack, browser: Any
) -> None:
    """A pod-like resource id, an alert summary and a silence comment without a space in
    hundreds of characters: every page still fits the window (no sideways scrolling to reach
    the severity, the timeline link or the End now button)."""
    pod = "checkout-" + "7f9c5d8b6x" * 19
    now = datetime.now(UTC).replace(microsecond=0)
    alert = {
        "status": "firing",
        "labels": {"alertname": "memory_working_set_ratio", "instance": pod, "severity": "high"},
        "annotations": {"summary": "y" * 300},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "fingerprint": "long-pod",
    }
    ingest, operator = stack.key("ingest", "am"), stack.key("operator", "olly")
    body = {"version": "4", "status": "firing", "receiver": "x", "groupKey": "g", "alerts": [alert]}
    for path, key, payload in (
        ("/v1/alerts/alertmanager", ingest, body),
        (
            "/notifications/silences",
            operator,
            {"matchers": {"resource": pod, "metric": "*"}, "duration_s": 600, "comment": "z" * 300},
        ),
        (
            "/remediation/maintenance",
            operator,
            {"target_pattern": pod, "duration": "1h", "reason": "r" * 300},
        ),
    ):
        reply = httpx.post(stack.url + path, json=payload, headers={"X-API-Key": key}, timeout=20)
        assert reply.status_code < 300, reply.text
        if path == "/v1/alerts/alertmanager":
            (incident_id,) = reply.json()["anomaly_ids"]
    page = sign_in(browser, stack, operator, "/console/anomalies")
    reload_until(page, pod[:40])
    for path in (
        "/console/",
        "/console/incidents?status=any",
        "/console/anomalies",
        "/console/silences",
        "/console/safety",
        f"/console/incidents/{incident_id}",
    ):
        page.goto(stack.url + path)
        wide, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert wide <= window, f"{path} is {wide} px wide in a {window} px window"


def test_no_page_logs_an_error_or_asks_for_something_missing(
    stack: ConsoleStack, browser: Any
) -> None:
    """The browser's console stays clean on every page, the sign-in page included: no
    request answered 4xx or 5xx (a browser asks for ``/favicon.ico`` unless the page names
    its icon)."""
    page = browser.new_context().new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(stack.url + "/console/")
    page.get_by_label("API key").fill(stack.key("admin", "ada"))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(stack.url + "/console/")
    for path in ("/console/incidents", "/console/approvals", "/console/safety", "/console/rules"):
        page.goto(stack.url + path)
    page.wait_for_timeout(500)  # the icon is asked for after the page loads
    assert errors == [], errors

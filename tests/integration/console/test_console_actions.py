"""What the console's buttons do, on real services: the API's own routes, roles and people
behind CSRF-checked forms."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient


def _wait_for(what: str, found: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout}s")


def _silences(stack: ConsoleStack, key: str) -> list[dict[str, Any]]:
    reply = stack.api("GET", "/notifications/silences", key)
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()
    return found


def test_an_operator_silences_in_their_own_name_and_ends_the_silence(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    key = console_stack.key("operator", "otto")
    console.sign_in(key)
    fields = {"resource": "shop-*", "metric": "cpu_*", "duration": "2h", "comment": "load test"}
    shown = console.after(console.submit("/console/silences", fields))
    assert "load test" in shown.text and "flash-ok" in shown.text
    (silence,) = [s for s in _silences(console_stack, key) if s["comment"] == "load test"]
    assert silence["created_by"].startswith("otto (key ")
    assert silence["matchers"]["resource"] == "shop-*"
    ended = console.after(console.submit(f"/console/silences/{silence['id']}/end", {}))
    assert ended.status_code == 200
    assert not [s for s in _silences(console_stack, key) if s["id"] == silence["id"]]


def test_a_silence_names_its_resource_an_empty_form_silences_nothing(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    key = console_stack.key("operator", "otto")
    console.sign_in(key)
    before = _silences(console_stack, key)
    refused = console.submit("/console/silences", {"resource": "", "duration": "1h"})
    assert refused.status_code == 400, refused.text
    assert "resource" in refused.text
    assert _silences(console_stack, key) == before


def test_a_viewer_sees_no_buttons_and_is_refused_when_posting_anyway(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    key = console_stack.key("viewer", "vera")
    console.sign_in(key)
    page = console.page("/console/silences")
    assert "Only an operator or admin may silence." in page.text
    refused = console.submit("/console/silences", {"resource": "x", "duration": "1h"})
    assert refused.status_code == 403
    assert "a viewer key may not do this: it needs operator" in refused.text
    assert not [s for s in _silences(console_stack, key) if s["matchers"]["resource"] == "x"]


def test_an_operator_posting_an_admin_switch_is_refused_in_words(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    console.sign_in(console_stack.key("operator", "olaf"))
    refused = console.submit("/console/breaker/reset", {})
    assert refused.status_code == 403
    assert "an operator key may not do this: it needs admin" in refused.text


def test_a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    key = console_stack.key("operator", "otto")
    console.sign_in(key)
    fields = {"resource": "forged-*", "duration": "1h"}
    assert console.submit("/console/silences", fields, csrf=None).status_code == 403
    other = console_stack.client()
    try:
        other.sign_in(console_stack.key("operator", "oscar"))
        foreign = other.csrf()
    finally:
        other.close()
    refused = console.submit("/console/silences", fields, csrf=foreign)
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert not [s for s in _silences(console_stack, key) if s["matchers"]["resource"] == "forged-*"]


def test_only_an_admin_closes_the_breaker(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    console.sign_in(console_stack.key("operator", "otto"))
    assert "Close the breaker" not in console.page("/console/safety").text
    refused = console.submit("/console/breaker/reset", {})
    assert refused.status_code == 403 and "needs admin" in refused.text
    admin = console_stack.client()
    try:
        admin.sign_in(console_stack.key("admin", "ada"))
        shown = admin.after(admin.submit("/console/breaker/reset", {}))
        assert "flash-ok" in shown.text and "Circuit breaker: closed" in shown.text
    finally:
        admin.close()
    log = console_stack.api("GET", "/remediation/admin-log", console_stack.key("admin", "ada"))
    assert any(
        e.get("event") == "breaker_reset" or "breaker_reset" in str(e) for e in log.json()
    ), log.text


def test_an_operator_adds_and_ends_a_maintenance_window(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    key = console_stack.key("operator", "otto")
    console.sign_in(key)
    fields = {"target_pattern": "batch-*", "duration": "3h", "reason": "kernel upgrade"}
    shown = console.after(console.submit("/console/maintenance", fields))
    assert "kernel upgrade" in shown.text and "batch-*" in shown.text
    windows = console_stack.api("GET", "/remediation/maintenance", key).json()
    (window,) = [w for w in windows if w["target_pattern"] == "batch-*"]
    assert window["created_by"].startswith("otto (key ")
    bad = console.submit("/console/maintenance", {**fields, "duration": "soon"})
    assert bad.status_code == 400 and "a number and a unit" in bad.text
    refused = console.after(console.submit("/console/maintenance", {**fields, "duration": "0s"}))
    assert "flash-error" in refused.text and "422" in refused.text  # the remediator's refusal
    console.after(console.submit(f"/console/maintenance/{window['id']}/end", {}))
    windows = console_stack.api("GET", "/remediation/maintenance", key).json()
    assert not [w for w in windows if w["id"] == window["id"]]


def _scale_in_waiting(stack: ConsoleStack, key: str, group: str) -> dict[str, Any]:
    """A manual scale-in (high risk): it waits for someone other than the requester."""
    asked = stack.api(
        "POST",
        "/remediation/execute",
        key,
        json={
            "action": "scale_in",
            "target": {"auto_scaling_group": group},
            "params": {"by": 1},
            "reason": "traffic dropped",
        },
    )
    assert asked.status_code == 202, asked.text

    def pending() -> list[dict[str, Any]]:
        listed = stack.api("GET", "/remediation/approvals", key).json()
        return [a for a in listed if a["request"]["target"].get("group") == group]

    found: list[dict[str, Any]] = _wait_for("the pending approval", pending)
    (approval,) = found
    return approval


def test_an_operator_rejects_and_nothing_runs(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    approval = _scale_in_waiting(console_stack, console_stack.key("operator", "olga"), "cart-asg")
    oscar = console_stack.key("operator", "oscar")
    console.sign_in(oscar)
    done = console.after(
        console.submit(f"/console/approvals/{approval['id']}/reject", {"comment": "sale day"})
    )
    assert "flash-ok" in done.text and "rejected by oscar (key " in done.text
    assert f"approval-{approval['id']}" not in done.text
    assert _state(console_stack, oscar, approval["id"]) == "rejected"


def test_the_requester_cannot_approve_their_own_request_in_the_console_but_another_can(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    olga = console_stack.key("operator", "olga")
    approval = _scale_in_waiting(console_stack, olga, "shop-asg")
    console.sign_in(olga)
    page = console.page("/console/approvals")
    assert f"/console/approvals/{approval['id']}/approve" in page.text
    own = console.after(
        console.submit(f"/console/approvals/{approval['id']}/approve", {"comment": "mine"})
    )
    assert "flash-error" in own.text and "cannot also approve" in own.text
    assert _state(console_stack, olga, approval["id"]) == "pending"

    oscar = console_stack.client()
    try:
        oscar.sign_in(console_stack.key("operator", "oscar"))
        done = oscar.after(
            oscar.submit(f"/console/approvals/{approval['id']}/approve", {"comment": "ok"})
        )
        assert "flash-ok" in done.text and re.search(r"approved by oscar \(key \w+\)", done.text)
    finally:
        oscar.close()
    assert _state(console_stack, olga, approval["id"]) == "approved"


def _state(stack: ConsoleStack, key: str, approval_id: str) -> str:
    reply: httpx.Response = stack.api("GET", f"/remediation/approvals/{approval_id}", key)
    state: str = reply.json()["state"]
    return state


def test_an_incidents_page_names_who_approved_through_what_and_when(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    olga = console_stack.key("operator", "olga")
    approval = _scale_in_waiting(console_stack, olga, "votes-asg")
    console.sign_in(console_stack.key("operator", "oscar"))
    console.submit(f"/console/approvals/{approval['id']}/approve", {"comment": "quiet hour"})
    incident = approval["request"]["incident"]["anomaly_id"]

    def shown() -> str:
        page = console.page(f"/console/incidents/{incident}")
        return page.text if 'pill">dry_run' in page.text else ""

    text = _wait_for("the approved action on the incident's page", shown)
    said = re.findall(
        r"<li>approved by oscar \(key \w+\) via the console at [\d-]+ [\d:]+ UTC", text
    )
    assert len(said) == 2, text  # the approval, and the action it let run


def test_an_approval_on_instances_tagged_by_name_names_its_target_as_slack_does(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """A critical alert on ``shop-7`` (no instance id): the restart waits for two people on
    the instances tagged ``Name=shop-7``. The card's title names that target as Slack's
    approval message does (``tag:Name=shop-7``), not as the JSON ``{"Name": "shop-7"}``."""
    now = datetime.now(UTC).replace(microsecond=0)
    alerts = {
        "version": "4",
        "status": "firing",
        "receiver": "x",
        "groupKey": "shop",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "cpu_utilization",
                    "instance": "shop-7",
                    "severity": "critical",
                    "criticality": "production-critical",
                },
                "annotations": {"summary": "hot"},
                "startsAt": (now - timedelta(minutes=1)).isoformat(),
                "fingerprint": "shop-7-cpu",
            }
        ],
    }
    viewer = console_stack.key("viewer", "vera")
    sent = console_stack.api(
        "POST", "/v1/alerts/alertmanager", console_stack.key("ingest", "am"), json=alerts
    )
    assert sent.status_code == 202, sent.text

    def waiting() -> list[dict[str, Any]]:
        listed = console_stack.api("GET", "/remediation/approvals", viewer).json()
        return [a for a in listed if a["request"]["target"].get("tags") == {"Name": "shop-7"}]

    (approval,) = _wait_for("the restart's approval", waiting)
    console.sign_in(viewer)
    card = console.page("/console/approvals").text.split(f'id="approval-{approval["id"]}"')[1]
    title = card.split("<h3>")[1].split("</h3>")[0]
    assert title == "restart_service on tag:Name=shop-7", title


def test_the_silence_and_maintenance_forms_read_durations_alike(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """A silence "For 1h30m" lasts 90 minutes, as a maintenance window takes it; "For 90" (no
    unit) is refused by both forms, not a maintenance window that ends 90 seconds later."""
    key = console_stack.key("operator", "otto")
    console.sign_in(key)
    fields = {"resource": "dur-*", "metric": "*", "duration": "1h30m", "comment": "compound"}
    shown = console.after(console.submit("/console/silences", fields))
    assert "flash-ok" in shown.text, shown.text
    (silence,) = [s for s in _silences(console_stack, key) if s["comment"] == "compound"]
    lasts = datetime.fromisoformat(silence["ends_at"]) - datetime.fromisoformat(
        silence["starts_at"]
    )
    assert lasts == timedelta(minutes=90), lasts
    for action, form in (
        ("/console/silences", {**fields, "duration": "90", "comment": "bare"}),
        ("/console/maintenance", {"target_pattern": "dur-*", "duration": "90", "reason": "bare"}),
    ):
        refused = console.submit(action, form)
        assert refused.status_code == 400 and "a number and a unit" in refused.text, refused.text
    windows = console_stack.api("GET", "/remediation/maintenance", key).json()
    assert not [w for w in windows if w["target_pattern"] == "dur-*"], windows

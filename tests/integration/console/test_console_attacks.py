"""The console attacked as a web application (real gateway and services on loopback)."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient
from tests.support.waiting import wait_for_a_fresh_minute


def test_a_sign_in_posted_from_a_sibling_site_with_a_planted_token_is_refused(
    console_stack: ConsoleStack,
) -> None:
    """Login CSRF. The sign-in form's double-submit token is compared with the cookie of the
    same name; whoever can plant one cookie in the victim's browser (a sibling subdomain, which
    is *same-site*, so ``SameSite=Strict`` does not hold it back; or a network attacker through
    any plain-http URL of the host) chooses both halves. The browser's word on where the post
    came from (``Origin``, ``Sec-Fetch-Site``) refuses it: the victim is not signed in to the
    attacker's key (to approve, reject and silence as the attacker)."""
    attacker_key = console_stack.key("operator", "mallory")
    victim_browser = httpx.Client(base_url=console_stack.url, timeout=20, follow_redirects=False)
    try:
        # Planted from evil.<same site> with Domain=<site>; Path=/console (never issued here).
        victim_browser.cookies.set("scops_console_signin", "chosen-by-mallory", path="/console")
        # The attacker's page auto-submits a form to the console's sign-in.
        reply = victim_browser.post(
            "/console/sign-in",
            data={"form_token": "chosen-by-mallory", "api_key": attacker_key},
            headers={"Origin": "https://evil.example.com", "Sec-Fetch-Site": "same-site"},
        )
        signed_in_as = victim_browser.get("/console/").text
    finally:
        victim_browser.close()
    assert reply.status_code == 403 and "scops_console=" not in reply.headers.get(
        "set-cookie", ""
    ), (
        f"a forged sign-in was accepted: {reply.status_code} -> {reply.headers.get('location')}; "
        f"the victim's console now shows key 'mallory': {'mallory' in signed_in_as}"
    )


def test_after_an_action_only_the_page_it_leads_back_to_is_not_counted_again(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """The page an action leads back to is counted with the action, once: the next page is
    counted whatever it answers (an error page too), so one action (even a failing one) does
    not open a window of uncounted pages reaching the history, the remediator and the anomaly
    index once the API answers the key 429.

    Here the key spends its whole minute (600: one page, 598 API calls, one action), then asks
    40 incident pages: past the first (the action's), every one is a 429 "rate limit" page."""
    key = console_stack.key("operator", "budget-bypass")
    assert console.sign_in(key).status_code == 303
    wait_for_a_fresh_minute(room_s=25)
    token = console.csrf("/console/silences")  # 1 of the 600
    with httpx.Client(base_url=console_stack.url, headers={"X-API-Key": key}, timeout=20) as api:
        spent = [api.get("/remediation/approvals").status_code for _ in range(598)]
        assert spent.count(200) == 598
        # The 600th: an action, whatever it answers, leaves a flash message.
        acted = console.submit(
            "/console/approvals/" + "0" * 32 + "/approve", {"comment": "x"}, csrf=token
        )
        assert acted.status_code == 303, acted.text[:300]
        assert api.get("/remediation/approvals").status_code == 429  # the API says: no more
    answered = []
    for _ in range(40):
        reply = console.page(f"/console/incidents/{uuid.uuid4()}")
        answered.append((reply.status_code, "in the history" in reply.text))
    from_history = sum(1 for status, asked in answered if status == 404 and asked)
    assert answered[1:] == [(429, False)] * 39, answered
    assert from_history <= 1, (
        f"{from_history} of 40 pages past the key's budget were served from the history "
        f"(statuses {sorted({s for s, _ in answered})}); expected 429 rate-limit pages"
    )

"""Signing in to the console with an API key: a session cookie that is not the key, pages
closed without it, sign-in refusing bad input with 4xx pages, sessions that end."""

from __future__ import annotations

import asyncio

import httpx
import redis
from redis.asyncio import Redis

from services.gateway.api_keys import KeyStore
from services.gateway.console.sessions import SESSION_PREFIX
from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import FORM_TOKEN, ConsoleClient
from tests.support.waiting import wait_for_a_fresh_minute


def test_an_api_key_becomes_an_httponly_samesite_session_cookie_never_the_key_itself(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    key = console_stack.key("viewer", "vera")
    reply = console.sign_in(key)
    assert reply.status_code == 303 and reply.headers["location"] == "/console/"
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("scops_console="))
    attributes = cookie.lower()
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "path=/console" in attributes and "max-age=28800" in attributes
    assert "secure" not in attributes  # served over plain HTTP here
    value = cookie.split(";")[0].split("=", 1)[1]
    assert key not in cookie and key.split("_")[2] not in value
    stored = redis.Redis.from_url(console_stack.redis_url)
    try:
        sessions = list(stored.scan_iter(f"{SESSION_PREFIX}*"))
        assert sessions and all(value not in s.decode() for s in sessions)
        assert all(key.split("_")[2].encode() not in stored.get(s) for s in sessions)
        assert 0 < stored.ttl(sessions[0]) <= 28800
    finally:
        stored.close()
    overview = console.page("/console/")
    assert overview.status_code == 200
    assert "vera" in overview.text and "viewer" in overview.text


def test_pages_without_a_session_lead_to_sign_in_and_back(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    typed = console.page("/console")
    assert typed.status_code == 303 and typed.headers["location"] == "/console/"
    closed = console.page("/console/approvals")
    assert closed.status_code == 303
    assert closed.headers["location"] == "/console/sign-in?next=/console/approvals"
    form = console.page(closed.headers["location"])
    assert 'name="next" value="/console/approvals"' in form.text


def test_a_mistyped_key_keeps_the_page_asked_for(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """Someone follows an incident link from Slack, pastes a wrong key, then the right one:
    they land on the incident, not on the overview."""
    asked = "/console/incidents?status=resolved"
    form = console.page(console.page(asked).headers["location"])
    for typed in ("scops_not_a_key", console_stack.key("viewer", "vera")):
        token = FORM_TOKEN.search(form.text)
        assert token, form.text
        form = console.http.post(
            "/console/sign-in",
            data={"form_token": token.group(1), "api_key": typed, "next": asked},
        )
        if typed == "scops_not_a_key":
            assert form.status_code == 401
            assert 'name="next" value="/console/incidents?status=resolved"' in form.text
    assert form.status_code == 303 and form.headers["location"] == asked


def test_sign_in_refuses_bad_input_with_a_4xx_page_never_500(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    ingest = console_stack.key("ingest", "collector")
    assert console.sign_in("scops_nope_nope").status_code == 401
    assert console.sign_in("").status_code == 400
    assert console.sign_in("x" * 5000).status_code == 400
    assert console.sign_in(ingest).status_code == 403
    http = console.http
    assert http.post("/console/sign-in", data={"api_key": ingest}).status_code == 403
    assert http.post("/console/sign-in", json={"api_key": "scops_a_b"}).status_code == 403
    garbled = http.post(
        "/console/sign-in",
        content=b"--xx\r\nContent-Disposition: form-data; name=\xff\r\n\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=xx"},
    )
    assert 400 <= garbled.status_code < 500, garbled.text
    for reply in (http.get("/console/sign-in"), http.post("/console/sign-in")):
        assert reply.headers["content-type"].startswith("text/html")


def test_every_page_sends_a_script_free_csp_and_cannot_be_framed(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    console.sign_in(console_stack.key("viewer", "vera"))
    for path in ("/console/sign-in", "/console/", "/console/static/console.css"):
        reply = console.page(path)
        csp = reply.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp and "script-src" not in csp, path
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in console.page("/console/").text


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    console.sign_in(console_stack.key("operator", "otto"))
    copied = dict(console.http.cookies)
    out = console.submit("/console/sign-out", {})
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    replay = ConsoleClient(console_stack.url)
    try:
        replay.http.cookies.update(copied)
        assert replay.page("/console/").status_code == 303
    finally:
        replay.close()


def test_a_revoked_key_ends_its_console_sessions_at_once(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    key = console_stack.key("operator", "rita")
    console.sign_in(key)
    assert console.page("/console/").status_code == 200

    async def revoke() -> None:  # what `scops keys revoke KEY_ID` does
        client = Redis.from_url(console_stack.redis_url)
        try:
            assert await KeyStore(client).revoke(key.split("_")[1]) is not None
        finally:
            await client.aclose()

    asyncio.run(revoke())
    assert console.page("/console/").status_code == 303


def test_behind_a_tls_proxy_the_session_cookie_is_secure(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """A proxy on this host terminating TLS says so with X-Forwarded-Proto (uvicorn trusts it
    from loopback): the cookies are then sent over TLS only."""
    forwarded = {"X-Forwarded-Proto": "https"}
    form = console.http.get("/console/sign-in", headers=forwarded)
    token = FORM_TOKEN.search(form.text)
    assert token is not None
    assert "secure" in form.headers["set-cookie"].lower()
    # A Secure cookie is not kept for plain HTTP: send it back as the browser behind TLS would.
    console.http.cookies.set("scops_console_signin", token.group(1))
    reply = console.http.post(
        "/console/sign-in",
        data={"form_token": token.group(1), "api_key": console_stack.key("viewer", "tls")},
        headers=forwarded,
    )
    assert reply.status_code == 303, reply.text
    session = next(
        c for c in reply.headers.get_list("set-cookie") if c.startswith("scops_console=")
    )
    assert "; secure" in session.lower()


def test_too_many_failed_sign_ins_say_when_to_try_again_and_keep_no_valid_key_out(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    stored = redis.Redis.from_url(console_stack.redis_url)
    wait_for_a_fresh_minute(20)  # the limit counts by clock minute: fill and check it in one
    try:
        replies = [console.sign_in("scops_nope_nope") for _ in range(31)]
        refused = next(r for r in replies if r.status_code == 429)
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 61
        assert refused.headers["content-type"].startswith("text/html")
        assert f"try again in {wait} seconds" in refused.text
        # Others' failures (behind an ingress every browser shares one address) never keep a
        # valid key out, and an empty post with no form counts as a failure like any other.
        for _ in range(5):
            assert console.http.post("/console/sign-in", data={}).status_code == 429
        assert console.sign_in(console_stack.key("viewer", "after-the-flood")).status_code == 303
    finally:  # the limit is per client address: later sign-ins of these tests come from it too
        for key in stored.scan_iter("*rate:console-sign-in:*"):
            stored.delete(key)
        stored.close()


def test_a_key_that_cannot_open_the_console_is_named_in_plain_words(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    reply = console.sign_in(console_stack.key("ingest", "collector-2"))
    assert reply.status_code == 403
    assert "An ingest key cannot open the console" in reply.text


def test_an_unknown_console_page_is_an_html_404_page(console: ConsoleClient) -> None:
    for path in ("/console/nope", "/console/incidents/x/y"):
        reply = console.page(path)
        assert reply.status_code == 404, path
        assert reply.headers["content-type"].startswith("text/html"), path
    assert console.page("/console/static/console.css").status_code == 200


def test_a_key_out_of_budget_on_the_api_gets_no_more_pages_either(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """Pages ask the services what the API asks: they count against the key's per-minute
    budget of forwarded requests (SCOPS_PROXY_RATE_PER_MIN, 600), one per page shown."""
    key = console_stack.key("viewer", "budget")
    assert console.sign_in(key).status_code == 303
    wait_for_a_fresh_minute(room_s=20)
    assert console.page("/console/").status_code == 200  # one of the 600
    with httpx.Client(base_url=console_stack.url, headers={"X-API-Key": key}) as api:
        spent = [api.get("/remediation/approvals").status_code for _ in range(599)]
        assert spent.count(200) == 599 and api.get("/remediation/approvals").status_code == 429
    refused = console.page("/console/")
    assert refused.status_code == 429
    assert "rate limit of 600 requests a minute reached for this key" in refused.text


def test_the_page_an_action_leads_back_to_is_the_actions_own_count(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    """An action counts once: the page its 303 leads to (showing what it did) does not count
    again, so the last request of a minute's budget is not told "rate limit" after it acted."""
    key = console_stack.key("operator", "budget-otto")
    assert console.sign_in(key).status_code == 303
    wait_for_a_fresh_minute(room_s=20)
    token = console.csrf("/console/silences")  # 1 of the 600
    with httpx.Client(base_url=console_stack.url, headers={"X-API-Key": key}) as api:
        spent = [api.get("/remediation/approvals").status_code for _ in range(598)]
    assert spent.count(200) == 598
    fields = {"resource": "budget-*", "duration": "1h", "comment": "the last one"}
    shown = console.after(console.submit("/console/silences", fields, csrf=token))  # 600th
    assert shown.status_code == 200 and "flash-ok" in shown.text
    assert console.page("/console/silences").status_code == 429  # the budget holds after it

"""Slash commands and interactions as Slack really sends them,
to the real gateway of this package's stack (gateway, detector, remediator, notifier and
history processes on the suite's Redis; the Slack stand-in receives the response_url posts)."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import httpx

from tests.integration.gateway_chatops.conftest import (
    OPERATOR_SLACK,
    Stack,
    signed_headers,
    slash,
)
from tests.integration.gateway_chatops.seeds import pending_approval


def slack_encoded(typed: str) -> str:
    """What Slack puts in a slash command's ``text`` for what the person typed: Slack
    escapes its three control characters, ``&``, ``<`` and ``>``, as HTML entities
    (https://docs.slack.dev/messaging/formatting-message-text#escaping; e.g.
    slack-ruby/slack-ruby-bot#237: "MSc & MBA" arrives as "MSc &amp; MBA")."""
    return typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_a_reason_typed_in_slack_is_recorded_as_typed(stack: Stack) -> None:
    # An operator rejects an approval with a reason typed in Slack, which sends `>` and `&`
    # as entities: the remediator records (and every later message, the console and the
    # audit log show) what was typed, not "&gt;" and "&amp;" (which Slack would then show
    # literally once the notifier escapes the reason).
    approval = pending_approval(stack.redis, "pool-amp")
    typed = f"reject {approval[:8]} because p99 > 2s & the sale is on"
    name = uuid.uuid4().hex[:8]
    reply = stack.slack_post(
        "/slack/commands", slash(slack_encoded(typed), OPERATOR_SLACK, stack.response_url(name))
    )
    assert reply.status_code == 200, reply.text
    decided = httpx.get(f"{stack.url('remediator')}/remediation/approvals/{approval}").json()
    assert decided["state"] == "rejected", decided
    said = json.dumps(decided)
    # not "p99 &gt; 2s &amp; the sale is on"
    assert "p99 &gt; 2s" not in said and "&amp;" not in said, said
    assert "p99 > 2s & the sale is on" in said, said


def test_an_oversized_signed_click_is_refused_as_a_problem_not_a_server_error(
    stack: Stack,
) -> None:
    # The interaction payload is bounded by the body limit (10 MiB), and a click is kept on
    # the clicks stream with at most 1,000,000 characters of payload: a larger (signed)
    # payload is refused as a 4xx problem, not a server error. (Slack's own payloads are a
    # few kB; this needs the signing secret.)
    payload = {
        "type": "block_actions",
        "user": {"id": OPERATOR_SLACK, "username": "ops-person", "team_id": "T0TEAM"},
        "team": {"id": "T0TEAM"},
        "response_url": stack.response_url(uuid.uuid4().hex[:8]),
        "actions": [{"action_id": "scops.anomaly.acknowledge", "value": "{}"}],
        "message": {"type": "message", "text": "x" * 1_000_100, "blocks": []},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    reply = stack.slack_raw("/slack/interactions", body, signed_headers(body))
    assert reply.status_code in (400, 413, 422), (reply.status_code, reply.text[:300])

"""A person pressing an approval's Approve or Reject button in Slack: the interaction Slack
sends the gateway, signed as Slack signs it, and what the gateway then tells Slack at the
response URL (caught by the stand-in)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from services.gateway.slack.signature import sign
from shared.slack_buttons import ApprovalButton
from tests.support.slack_standin import SlackStandIn


def click_approval(
    gateway_url: str | None,
    slack: SlackStandIn,
    secret: str,
    *,
    decision: str,
    approval_id: str,
    user_id: str,
    display: str,
    team: str,
    resource_id: str,
    enterprise: str | None = None,
    timeout: float = 15.0,
) -> dict[str, Any]:
    """``decision`` ("approve" or "reject") pressed by ``user_id`` of workspace ``team`` (of
    org ``enterprise``, if any); the message the gateway then sends to the response URL."""
    assert gateway_url is not None, "the gateway is not listening"
    name = uuid.uuid4().hex[:8]
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": display, "name": display, "team_id": team},
        "team": {"id": team},
        "enterprise": {"id": enterprise, "name": "Org"} if enterprise else None,
        "response_url": f"http://127.0.0.1:{slack.port}/services/responses/{name}",
        "message": {"type": "message", "text": "approval", "blocks": []},
        "actions": [
            {
                "action_id": f"scops.approval.{decision}",
                "value": ApprovalButton(
                    approval_id=approval_id,
                    action="scale_in",
                    resource_id=resource_id,
                    anomaly_id=str(uuid.uuid4()),
                    correlation_id=f"click-{name}",
                ).encode(),
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    reply = httpx.post(
        f"{gateway_url}/slack/interactions",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(secret, stamp, body),
        },
        timeout=20,
    )
    assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for received in slack.received:
            if received.path.endswith(f"/{name}"):
                told: dict[str, Any] = received.body
                return told
        time.sleep(0.05)
    raise AssertionError("the gateway told Slack nothing")

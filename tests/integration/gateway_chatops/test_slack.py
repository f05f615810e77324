"""Slack on a real stack: signatures checked before anything else, the slash command answered
inline or later through the response_url, and the notifier's buttons applied with the
clicker's role, the original message replaced saying who decided."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from services.notifier.core.alerts import MessageKind
from services.notifier.core.render import Channel, render_record
from shared.events import RemediationStatus
from shared.slack_buttons import ActionId, AnomalyButton, ApprovalButton, ButtonValue, GroupButton
from tests.integration.gateway_chatops.conftest import (
    OPERATOR_SLACK,
    VIEWER_SLACK,
    Stack,
    signed_headers,
    slash,
)
from tests.integration.gateway_chatops.seeds import detector_anomaly, pending_approval
from tests.support.notifier_events import T0, anomaly, record


def test_only_a_valid_fresh_first_seen_signature_passes(stack: Stack) -> None:
    body = urlencode(slash("help", VIEWER_SLACK, stack.response_url("sig"))).encode()
    headers = signed_headers(body)
    first = stack.slack_raw("/slack/commands", body, headers)
    assert first.status_code == 200, first.text
    assert first.json()["response_type"] == "ephemeral"
    assert first.json()["text"].startswith("I answer from the system's own data, in your words")
    replayed = stack.slack_raw("/slack/commands", body, headers)
    assert replayed.status_code == 401
    assert replayed.json()["detail"] == (
        "Slack request refused: this request was already received (replay)"
    )
    other = urlencode(slash("status", VIEWER_SLACK, stack.response_url("sig"))).encode()
    refusals = {
        "wrong secret": stack.slack_raw(
            "/slack/commands", other, signed_headers(other, secret="wrong")
        ),
        "stale": stack.slack_raw("/slack/commands", other, signed_headers(other, age_s=301)),
        "unsigned": stack.slack_raw("/slack/commands", other, {}),
        "interaction, wrong secret": stack.slack_raw(
            "/slack/interactions", b"payload=%7B%7D", signed_headers(b"payload=%7B%7D", secret="x")
        ),
    }
    for name, reply in refusals.items():
        assert reply.status_code == 401, name
        assert reply.headers["content-type"] == "application/problem+json"
    assert "does not match" in refusals["wrong secret"].json()["detail"]
    assert "more than 5 minutes off" in refusals["stale"].json()["detail"]
    # The refused body was never seen: signed properly, it passes.
    assert stack.slack_raw("/slack/commands", other, signed_headers(other)).status_code == 200
    assert not any(r.path.endswith("/sig") for r in stack.slack.received)


def test_slack_endpoints_take_no_api_key(stack: Stack) -> None:
    spec = httpx.get(f"{stack.gateway.url}/openapi.json").json()
    for path in ("/slack/commands", "/slack/interactions"):
        operation = spec["paths"][path]["post"]
        assert "security" not in operation, path
        assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]
        headers = {p["name"] for p in operation["parameters"]}
        assert headers == {"X-Slack-Signature", "X-Slack-Request-Timestamp"}
    assert spec["paths"]["/chatops/query"]["post"]["security"]


def test_slash_commands_answer_inline_with_the_users_role(stack: Stack) -> None:
    answer = stack.slack_post(
        "/slack/commands",
        slash("what's wrong with web-1?", VIEWER_SLACK, stack.response_url("inline")),
    ).json()
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith("*web-1* has 1 open anomaly (worst: critical)")
    viewer = stack.slack_post(
        "/slack/commands",
        slash("restart postgres on db-1", VIEWER_SLACK, stack.response_url("inline")),
    ).json()
    assert viewer == {
        "response_type": "ephemeral",
        "text": "You are a viewer: `restart postgres on db-1` needs the operator role. "
        "Nothing was done.",
    }
    operator = stack.slack_post(
        "/slack/commands",
        slash("restart postgres on db-1", OPERATOR_SLACK, stack.response_url("inline")),
    ).json()
    assert operator["response_type"] == "ephemeral"
    assert operator["text"].startswith("Refused by the remediator's `deny_list` rule: db-1 ")
    history = f"scops:{{chatops}}:history:slack:T0TEAM:{OPERATOR_SLACK}"
    turns = [json.loads(t) for t in stack.redis.lrange(history, 0, -1)]
    assert turns[0]["query"] == "restart postgres on db-1" and turns[0]["channel"] == "slack"
    assert turns[0]["outcome"] == "refused"


def test_long_work_is_acknowledged_and_answered_through_the_response_url(stack: Stack) -> None:
    stack.llm.answer(
        "anything odd on web-1 lately?",
        {"intent": "resource_health", "entities": {"resource": "web-1"}},
        delay_s=1.6,
    )
    started = time.monotonic()
    reply = stack.slack_post(
        "/slack/commands",
        slash("anything odd on web-1 lately?", OPERATOR_SLACK, stack.response_url("late")),
    )
    assert time.monotonic() - started < 1.5
    assert reply.json() == {
        "response_type": "ephemeral",
        "text": "Working on `anything odd on web-1 lately?`: the answer follows here shortly.",
    }
    (late,) = stack.posted_to("late")
    assert late.body["response_type"] == "in_channel"
    assert late.body["text"].startswith(
        "(understood as `what's wrong with web-1`)\n*web-1* has 1 open anomaly"
    )


def click(
    stack: Stack,
    user: str,
    action_id: str,
    value: dict[str, Any],
    message: dict[str, Any],
    team: str = "T0TEAM",
) -> tuple[httpx.Response, str]:
    name = uuid.uuid4().hex[:8]
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "ops-person", "team_id": team},
        "team": {"id": team},
        "trigger_id": uuid.uuid4().hex,
        "response_url": stack.response_url(name),
        "message": message,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "value": BUTTONS[action_id](**value).encode(),
                "action_ts": str(time.time()),
            }
        ],
    }
    reply = stack.slack_post("/slack/interactions", {"payload": json.dumps(payload)})
    return reply, name


# The values are made by the contract the notifier writes its buttons with.
BUTTONS: dict[str, type[ButtonValue]] = {
    **dict.fromkeys([ActionId.APPROVAL_APPROVE, ActionId.APPROVAL_REJECT], ApprovalButton),
    **dict.fromkeys(
        [ActionId.ANOMALY_ACKNOWLEDGE, ActionId.ANOMALY_FALSE_POSITIVE, ActionId.ANOMALY_SILENCE],
        AnomalyButton,
    ),
    **dict.fromkeys([ActionId.GROUP_ACKNOWLEDGE, ActionId.GROUP_SILENCE], GroupButton),
}


def message_with(*action_ids: str) -> dict[str, Any]:
    return {
        "type": "message",
        "text": "CRITICAL: HighCPU on web-1",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*HighCPU* on web-1"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": a,
                        "value": "{}",
                        "text": {"type": "plain_text", "text": a},
                    }
                    for a in action_ids
                ],
            },
        ],
    }


APPROVAL_MESSAGE = message_with("scops.approval.approve", "scops.approval.reject")
ANOMALY_MESSAGE = message_with(
    "scops.anomaly.acknowledge", "scops.anomaly.false_positive", "scops.anomaly.silence"
)


def approval_value(approval_id: str) -> dict[str, Any]:
    return {
        "approval_id": approval_id,
        "action": "scale_in",
        "resource_id": "pool-c",
        "anomaly_id": str(uuid.uuid4()),
        "correlation_id": "c",
    }


def test_approve_button_decides_and_replaces_the_message(stack: Stack) -> None:
    approval = pending_approval(stack.redis, "pool-c")
    reply, name = click(
        stack, OPERATOR_SLACK, "scops.approval.approve", approval_value(approval), APPROVAL_MESSAGE
    )
    assert (reply.status_code, reply.content) == (200, b"")
    (update,) = stack.posted_to(name)
    assert update.body["replace_original"] is True
    assert [b["type"] for b in update.body["blocks"]] == ["section", "context"]
    line = update.body["blocks"][-1]["elements"][0]["text"]
    assert line.startswith(f":white_check_mark: Approved by <@{OPERATOR_SLACK}>: `scale_in` on ")
    assert f"approved by ops-person (slack {OPERATOR_SLACK}): the action is queued" in line
    decided = httpx.get(f"{stack.url('remediator')}/remediation/approvals/{approval}").json()
    assert decided["state"] == "approved"
    assert decided["decided_by"] == f"ops-person (slack {OPERATOR_SLACK})"


def rendered_approval(approval_id: str) -> dict[str, Any]:
    """The approval request as the notifier posts it to Slack (header, fields, buttons)."""
    rec = record(
        anomaly(resource_id="pool-c"),
        RemediationStatus.PENDING_APPROVAL,
        action="scale_in",
        approval_id=approval_id,
        expires_at=T0 + timedelta(minutes=30),
    )
    payload = render_record(rec, MessageKind.APPROVAL, Channel.SLACK).payload
    assert payload is not None
    assert "Approval needed" in json.dumps(payload) and "*Expires*" in json.dumps(payload)
    return {"type": "message", **payload}


@pytest.mark.parametrize(
    ("action_id", "title"),
    [
        ("scops.approval.approve", ":white_check_mark: Approved by ops-person: scale_in on "),
        ("scops.approval.reject", ":x: Rejected by ops-person: scale_in on "),
    ],
)
def test_a_decided_approval_message_reads_as_decided_not_waiting(
    stack: Stack, action_id: str, title: str
) -> None:
    approval = pending_approval(stack.redis, "pool-c")
    message = rendered_approval(approval)
    _, name = click(stack, OPERATOR_SLACK, action_id, approval_value(approval), message)
    (update,) = stack.posted_to(name)
    blocks = update.body["blocks"]
    (head,) = [b for b in blocks if b["type"] == "header"]
    assert head["text"]["text"].startswith(title)
    assert update.body["text"].startswith(title)
    shown = json.dumps(update.body)
    assert "Approval needed" not in shown
    assert "Expires" not in shown and "expires" not in update.body["text"]
    assert not [b for b in blocks if b["type"] == "actions"]
    fields = json.dumps([b for b in blocks if "fields" in b])
    assert "*Action*" in fields and "*Risk*" in fields  # the rest of the message stays


def test_a_click_on_an_approval_decided_elsewhere_brings_its_message_up_to_date(
    stack: Stack,
) -> None:
    """Decided through the API, the approval's Slack message still offered its buttons; the
    click that finds it decided now replaces the message saying who decided, and decides
    nothing more."""
    approval = pending_approval(stack.redis, "pool-f")
    decided = httpx.post(
        f"{stack.gateway.url}/remediation/approvals/{approval}/reject",
        json={"by": "olga"},
        headers={"X-API-Key": stack.keys["operator"]},
        timeout=20,
    )
    assert decided.status_code == 200, decided.text
    message = rendered_approval(approval)
    _, name = click(
        stack, OPERATOR_SLACK, "scops.approval.approve", approval_value(approval), message
    )
    (update,) = stack.posted_to(name)
    assert update.body["replace_original"] is True
    (head,) = [b for b in update.body["blocks"] if b["type"] == "header"]
    assert head["text"]["text"].startswith(":x: Rejected by olga")
    assert not [b for b in update.body["blocks"] if b["type"] == "actions"]
    assert "decided before this click; nothing more was done" in json.dumps(update.body)
    still = httpx.get(f"{stack.url('remediator')}/remediation/approvals/{approval}").json()
    assert still["state"] == "rejected" and still["decided_by"].startswith("olga")


def test_a_viewer_clicking_reject_is_told_and_nothing_changes(stack: Stack) -> None:
    approval = pending_approval(stack.redis, "pool-d")
    _, name = click(
        stack, VIEWER_SLACK, "scops.approval.reject", approval_value(approval), APPROVAL_MESSAGE
    )
    (notice,) = stack.posted_to(name)
    assert notice.body == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": "You are a viewer here (SCOPS_SLACK_USER_ROLES): this button needs the "
        "operator role. Nothing was done.",
    }
    still = httpx.get(f"{stack.url('remediator')}/remediation/approvals/{approval}").json()
    assert still["state"] == "pending"


def test_another_workspace_is_refused_whatever_user_id_it_sends(stack: Stack) -> None:
    """The app's signing secret signs every workspace it is installed in: a member of another
    one carrying an operator's id gets no role, no answer and no action."""
    answer = stack.slack_post(
        "/slack/commands",
        slash("restart nginx on web-7", OPERATOR_SLACK, stack.response_url("x"), team="T0ELSE"),
    ).json()
    assert (answer["response_type"], answer["text"]) == (
        "ephemeral",
        "This Slack workspace (T0ELSE) is not one this gateway answers "
        "(SCOPS_SLACK_TEAM_IDS). Nothing was done.",
    )
    approval = pending_approval(stack.redis, "pool-e")
    _, name = click(
        stack,
        OPERATOR_SLACK,
        "scops.approval.approve",
        approval_value(approval),
        APPROVAL_MESSAGE,
        team="T0ELSE",
    )
    (notice,) = stack.posted_to(name)
    assert notice.body["text"] == answer["text"]
    still = httpx.get(f"{stack.url('remediator')}/remediation/approvals/{approval}").json()
    assert still["state"] == "pending"
    asked = stack.redis.lrange(f"scops:{{chatops}}:history:slack:T0TEAM:{OPERATOR_SLACK}", 0, -1)
    assert not [t for t in asked if b"restart nginx on web-7" in t]


def anomaly_value(anomaly_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "anomaly_id": anomaly_id,
        "resource_id": "web-1",
        "metric": "HighCPU",
        "severity": "critical",
        "correlation_id": "c",
        **extra,
    }


def test_a_line_quoting_data_cannot_ping_the_channel(stack: Stack) -> None:
    """The resource id is data (any visible text an ingest key sent): the line that replaces
    the buttons quotes it escaped, and still mentions who clicked."""
    anomaly_id = detector_anomaly(stack.redis, "<!channel>", "HighCPU")
    value = anomaly_value(anomaly_id, resource_id="<!channel>")
    _, name = click(stack, OPERATOR_SLACK, "scops.anomaly.false_positive", value, ANOMALY_MESSAGE)
    (update,) = stack.posted_to(name)
    line = update.body["blocks"][-1]["elements"][0]["text"]
    assert line == (
        f":no_entry_sign: Marked as a false positive by <@{OPERATOR_SLACK}>: the detector "
        "tunes HighCPU on &lt;!channel&gt;"
    )


def test_false_positive_goes_to_the_detector(stack: Stack) -> None:
    anomaly_id = detector_anomaly(stack.redis, "web-1", "HighCPU")
    _, name = click(
        stack,
        OPERATOR_SLACK,
        "scops.anomaly.false_positive",
        anomaly_value(anomaly_id),
        ANOMALY_MESSAGE,
    )
    (update,) = stack.posted_to(name)
    line = update.body["blocks"][-1]["elements"][0]["text"]
    assert line == (
        f":no_entry_sign: Marked as a false positive by <@{OPERATOR_SLACK}>: the detector "
        "tunes HighCPU on web-1"
    )
    left = [e["action_id"] for e in update.body["blocks"][1]["elements"]]
    assert left == ["scops.anomaly.silence"]
    (entry,) = [
        fields
        for _, fields in stack.redis.xrange("scops:{feedback}")
        if fields[b"anomaly_id"].decode() == anomaly_id
    ]
    assert entry[b"verdict"] == b"false_positive"
    assert entry[b"by"].decode() == f"ops-person (slack {OPERATOR_SLACK})"
    unknown = str(uuid.uuid4())
    _, missing = click(
        stack,
        OPERATOR_SLACK,
        "scops.anomaly.false_positive",
        anomaly_value(unknown),
        ANOMALY_MESSAGE,
    )
    (notice,) = stack.posted_to(missing)
    assert notice.body["replace_original"] is False
    assert notice.body["text"].startswith("The detector did not take the feedback: anomaly ")


@pytest.mark.parametrize("button", ["silence", "acknowledge"])
def test_silence_and_acknowledge_go_to_the_notifier(stack: Stack, button: str) -> None:
    value = anomaly_value(str(uuid.uuid4()))
    if button == "silence":
        value |= {"silence_s": 3600, "silence": {"resource": "web-1", "metric": "HighCPU"}}
    _, name = click(stack, OPERATOR_SLACK, f"scops.anomaly.{button}", value, ANOMALY_MESSAGE)
    (update,) = stack.posted_to(name)
    line = update.body["blocks"][-1]["elements"][0]["text"]
    left = [e["action_id"] for e in update.body["blocks"][1]["elements"]]
    assert f"scops.anomaly.{button}" not in left and len(left) == 2
    if button == "silence":
        assert line.startswith(f":no_bell: Silenced for 1 h by <@{OPERATOR_SLACK}> (silence `")
        silences = httpx.get(f"{stack.url('notifier')}/notifications/silences").json()
        assert any(
            s["created_by"] == f"ops-person (slack {OPERATOR_SLACK})"
            and s["matchers"]["metric"] == "HighCPU"
            for s in silences
        )
    else:
        assert line.startswith(f":eyes: Acknowledged by <@{OPERATOR_SLACK}> (")

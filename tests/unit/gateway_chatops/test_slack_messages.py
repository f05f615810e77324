"""Slack requests read and messages built (no I/O)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError

from services.gateway.api_keys import Role
from services.gateway.chatops.chat_engine import with_incident_links
from services.gateway.chatops.intents import ActionName, ChatIntent, IntentName
from services.gateway.chatops.remediation_request import target_of
from services.gateway.chatops.replies import Answer, Outcome, Reply
from services.gateway.config import GatewaySettings
from services.gateway.slack import messages
from services.gateway.slack.commands import MalformedSlackRequestError, SlashCommand
from services.gateway.slack.interactions import parse_payload
from services.gateway.slack.users import SlackRoles, SlackUser

APPROVAL_MESSAGE = {
    "text": "restart_service on web-1 waits for approval",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*restart_service* on web-1"}},
        {
            "type": "actions",
            "elements": [
                {"type": "button", "action_id": "scops.approval.approve", "value": "{}"},
                {"type": "button", "action_id": "scops.approval.reject", "value": "{}"},
            ],
        },
    ],
}


def test_decided_removes_spent_buttons_and_says_who() -> None:
    update = messages.decided(
        APPROVAL_MESSAGE,
        "Approved by <@U1>",
        frozenset({"scops.approval.approve", "scops.approval.reject"}),
    )
    assert update["replace_original"] is True
    assert [b["type"] for b in update["blocks"]] == ["section", "context"]
    assert update["blocks"][-1]["elements"][0]["text"] == "Approved by <@U1>"
    assert update["text"].endswith("\nApproved by <@U1>")


def test_decided_keeps_other_buttons() -> None:
    update = messages.decided(APPROVAL_MESSAGE, "partly", frozenset({"scops.approval.approve"}))
    actions = update["blocks"][1]
    assert [e["action_id"] for e in actions["elements"]] == ["scops.approval.reject"]
    bare = messages.decided(None, "done", frozenset())
    assert bare["blocks"] == [{"type": "context", "elements": [{"type": "mrkdwn", "text": "done"}]}]


@pytest.mark.parametrize(
    ("outcome", "intent", "visibility"),
    [
        (Outcome.ANSWERED, IntentName.STATUS, "in_channel"),
        (Outcome.ACCEPTED, IntentName.RUN_ACTION, "in_channel"),
        (Outcome.ANSWERED, IntentName.HELP, "ephemeral"),
        (Outcome.REFUSED, IntentName.RUN_ACTION, "ephemeral"),
        (Outcome.UNAVAILABLE, IntentName.STATUS, "ephemeral"),
        (Outcome.NOT_UNDERSTOOD, None, "ephemeral"),
    ],
)
def test_who_sees_a_command_answer(
    outcome: Outcome, intent: IntentName | None, visibility: str
) -> None:
    parsed = None
    if intent is IntentName.RUN_ACTION:
        parsed = ChatIntent.of(intent, action="cleanup_disk", resource="web-1")
    elif intent is not None:
        parsed = ChatIntent.of(intent)
    reply = Reply(parsed, "parser", Answer(outcome, "x" * 4000))
    answer = messages.command_answer(reply)
    assert answer["response_type"] == visibility
    assert len(answer["text"]) == messages.TEXT_MAX


def test_answers_and_notices_quote_data_escaped() -> None:
    """An answer lists resource ids and explanations an ingest key or an alert chose; posted
    in the channel as mrkdwn, ``<!channel>`` in one would ping everyone."""
    said = "web-1 <!channel> & <https://evil.example|runbook>"
    reply = Reply(ChatIntent.of(IntentName.STATUS), "parser", Answer(Outcome.ANSWERED, said))
    for text in (
        messages.command_answer(reply)["text"],
        messages.notice(said)["text"],
        messages.working_on(said)["text"],
    ):
        assert "<" not in text and "&lt;!channel&gt; &amp; &lt;https://evil" in text, text


def test_slash_command_form() -> None:
    body = urlencode(
        {
            "command": "/cloudops",
            "text": "  what's wrong with web-1?  ",
            "user_id": "U1",
            "user_name": "ana",
            "team_id": "T1",
            "response_url": "https://hooks.slack.com/commands/T1/1/x",
        }
    ).encode()
    command = SlashCommand.from_form(body)
    assert command.text == "what's wrong with web-1?"
    assert command.user == SlackUser("U1", "ana", "T1")
    assert command.user.who == "ana (slack U1)"
    with pytest.raises(MalformedSlackRequestError):
        SlashCommand.from_form(b"text=status")


def test_interaction_payloads() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "username": "ana", "team_id": "T1"},
        "actions": [{"action_id": "scops.approval.approve", "value": '{"v": 1}'}],
        "response_url": "https://hooks.slack.com/actions/T1/1/x",
        "message": APPROVAL_MESSAGE,
    }
    parsed = parse_payload(urlencode({"payload": json.dumps(payload)}).encode())
    assert parsed is not None and parsed.actions[0].action_id == "scops.approval.approve"
    other = {"type": "view_submission", "user": {"id": "U1"}}
    assert parse_payload(urlencode({"payload": json.dumps(other)}).encode()) is None
    for bad in [b"payload=not-json", b"nothing=here", urlencode({"payload": "[]"}).encode()]:
        with pytest.raises(MalformedSlackRequestError):
            parse_payload(bad)
    lacking = {"type": "block_actions", "actions": []}
    with pytest.raises(MalformedSlackRequestError):
        parse_payload(urlencode({"payload": json.dumps(lacking)}).encode())


def test_slack_users_are_viewers_unless_configured() -> None:
    roles = SlackRoles({"U1": "operator", "U2": "admin"})
    assert roles.role_of(SlackUser("U1", "ana", "T1")) is Role.OPERATOR
    assert roles.role_of(SlackUser("U9", "cy", "T1")) is Role.VIEWER
    asker = roles.asker(SlackUser("U2", "bo", "T1"))
    assert (asker.user, asker.who, asker.role) == ("slack:T1:U2", "bo (slack U2)", Role.ADMIN)


def test_a_users_history_and_limits_are_theirs_within_their_workspace_or_org() -> None:
    assert SlackUser("U2", "bo", "T1").account == "slack:T1:U2"
    assert SlackUser("U2", "bo", "T2").account == "slack:T2:U2"  # somebody else
    grid = [SlackUser("U2", "bo", team, "E1").account for team in ("T1", "T2")]
    assert grid == ["slack:E1:U2", "slack:E1:U2"]  # one person across the org's workspaces


def test_a_role_scoped_to_a_workspace_or_org_holds_only_there() -> None:
    roles = SlackRoles({"T1:U1": "operator", "E1:U2": "admin", "U3": "operator"})
    assert roles.role_of(SlackUser("U1", "ana", "T1")) is Role.OPERATOR
    # The same id in another workspace is somebody else.
    assert roles.role_of(SlackUser("U1", "ana", "T2")) is Role.VIEWER
    # An Enterprise Grid user keeps their role in every workspace of the org.
    assert roles.role_of(SlackUser("U2", "bo", "T7", "E1")) is Role.ADMIN
    assert roles.role_of(SlackUser("U2", "bo", "T7", "E2")) is Role.VIEWER
    assert roles.role_of(SlackUser("U3", "cy", "T9")) is Role.OPERATOR


def test_only_the_listed_workspaces_are_answered_whatever_the_user_id() -> None:
    roles = SlackRoles({"U1": "admin"}, teams=["T1", "E1"])
    assert roles.admits(SlackUser("U1", "ana", "T1"))
    assert roles.admits(SlackUser("U1", "ana", "T5", "E1"))  # a workspace of the listed org
    intruder = SlackUser("U1", "ana", "T2")
    assert not roles.admits(intruder)
    assert roles.role_of(intruder) is Role.VIEWER
    assert "(T2) is not one this gateway answers" in (roles.refusal(intruder) or "")
    assert roles.refusal(SlackUser("U1", "ana", "T1")) is None
    assert not roles.admits(SlackUser("U1", "ana"))  # no workspace named: not listed either
    assert SlackRoles({}).admits(SlackUser("U1", "ana", "T2"))  # no list: every workspace


def test_targets_as_the_remediator_reads_them() -> None:
    assert target_of(ActionName.RESTART_SERVICE, "web-1") == {"tags": {"Name": "web-1"}}
    assert target_of(ActionName.CLEANUP_DISK, "i-0abc123def4567890") == {
        "instance_ids": ["i-0abc123def4567890"]
    }
    assert target_of(ActionName.SCALE_OUT, "web-asg") == {"auto_scaling_group": "web-asg"}


def test_an_answers_incident_page_link_is_a_link_in_slack_and_its_data_stays_quoted() -> None:
    """``explain the latest anomaly on web-1`` ends with a link to the incident's console
    page: in Slack it must be a link, not ``&lt;https://…|incident 0052424d&gt;`` shown as
    text, while what the answer quotes from data is still escaped."""
    anomaly_id = "0052424d-7530-5222-80f7-0196f06381d6"
    answer = Answer(Outcome.ANSWERED, "*Anomaly* on web-1 <!channel>", {"anomaly_id": anomaly_id})
    linked = with_incident_links(answer, "https://ops.example/console")
    reply = Reply(ChatIntent.of(IntentName.EXPLAIN_ANOMALY, resource="web-1"), "parser", linked)
    text = messages.command_answer(reply)["text"]
    page = f"https://ops.example/console/incidents/{anomaly_id}"
    assert text.endswith(f"\nIncident page: <{page}|incident 0052424d>"), text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text, text


def test_a_settled_approval_loses_its_waiting_header_and_expiry() -> None:
    original = {
        "text": ":raised_hand: Approval needed: scale_in on pool-c (manual request, "
        "expires 18:30 UTC)",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": ":raised_hand: Approval needed: scale_in"},
            },
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Expires*\n18:30"}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Why:* idle"}},
        ],
    }
    update = messages.decided(original, "Rejected by <@U1>", frozenset(), ":x: Rejected by ana")
    assert update["text"] == ":x: Rejected by ana: scale_in on pool-c (manual request)\n" + (
        "Rejected by <@U1>"
    )
    assert [b["type"] for b in update["blocks"]] == ["header", "section", "context"]
    assert update["blocks"][0]["text"]["text"] == ":x: Rejected by ana: scale_in"
    # Not settled (one approval of two): the message still waits, and says so.
    partly = messages.decided(original, "Approved by <@U1>: 1 of 2", frozenset())
    assert partly["blocks"][:3] == original["blocks"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SCOPS_SLACK_USER_ROLES", '{"ana.smith": "operator"}'),
        ("SCOPS_SLACK_USER_ROLES", '{"T1:": "operator"}'),
        ("SCOPS_SLACK_USER_ROLES", '{"u012ab3cd": "operator"}'),
        ("SCOPS_SLACK_TEAM_IDS", '["my-workspace"]'),
    ],
)
def test_slack_ids_that_are_no_slack_ids_stop_the_gateway_at_start(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="no Slack"):
        GatewaySettings()

"""Slack's two endpoints. No API key: the request signature is verified first, over the raw
body, and nothing is parsed from a request that fails it (401)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from services.gateway.deps import CorrelationIdDep, gateway
from services.gateway.slack.commands import (
    MalformedSlackRequestError,
    SlackCommands,
    SlashCommand,
)
from services.gateway.slack.interactions import SlackInteractions, parse_payload
from services.gateway.slack.signature import SlackVerificationError
from services.gateway.slack.verification import SlackVerifier
from shared.web import problem, problem_responses

router = APIRouter(prefix="/slack", tags=["slack"])

SIGNATURE_HEADERS = [
    {
        "name": "X-Slack-Signature",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "example": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d2"},
        "description": "v0=HMAC-SHA256 of v0:{timestamp}:{raw body} with the signing secret.",
    },
    {
        "name": "X-Slack-Request-Timestamp",
        "in": "header",
        "required": True,
        "schema": {"type": "string", "example": "1764180000"},
        "description": "Unix time; more than 5 minutes off is refused.",
    },
]


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "parameters": SIGNATURE_HEADERS,
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                }
            },
        },
    }


COMMAND_FORM = _form(
    {
        "command": {"type": "string", "example": "/cloudops"},
        "text": {"type": "string", "example": "what's wrong with web-1?"},
        "user_id": {"type": "string", "example": "U012AB3CD"},
        "user_name": {"type": "string", "example": "ana"},
        "team_id": {"type": "string", "example": "T012AB3CD"},
        "enterprise_id": {"type": "string", "example": "E012AB3CD"},
        "response_url": {"type": "string", "example": "https://hooks.slack.com/commands/1/2/3"},
        "trigger_id": {"type": "string"},
    },
    ["user_id"],
)
INTERACTION_FORM = _form(
    {"payload": {"type": "string", "description": "Slack's block_actions payload, as JSON."}},
    ["payload"],
)
RESPONSES = problem_responses(
    s400="Not a Slack request of this kind (a field missing or malformed)",
    s401="Not signed with the app's signing secret, or signed too long ago",
    s413="The request is larger than accepted",
)


def _verifier(request: Request) -> SlackVerifier:
    verifier: SlackVerifier = gateway(request).slack.verifier
    return verifier


@router.post(
    "/commands",
    summary="Slack slash command /cloudops <query> (Slack-signed; no API key)",
    openapi_extra=COMMAND_FORM,
    responses=RESPONSES,
)
async def slack_command(request: Request, correlation_id: CorrelationIdDep) -> dict[str, Any]:
    """The same engine as `POST /chatops/query`; the Slack user's role comes from
    `SCOPS_SLACK_USER_ROLES`. Answers within Slack's 3 seconds, inline or later through the
    `response_url`."""
    body = await _verifier(request).verified_body(request)
    command = SlashCommand.from_form(body)
    commands: SlackCommands = gateway(request).slack.commands
    return await commands.handle(command, correlation_id)


@router.post(
    "/interactions",
    summary="Slack button clicks on the notifier's messages (Slack-signed; no API key)",
    openapi_extra=INTERACTION_FORM,
    response_class=Response,
    responses={200: {"description": "Accepted (an empty answer, as Slack expects)"}, **RESPONSES},
)
async def slack_interactions(request: Request, correlation_id: CorrelationIdDep) -> Response:
    """Approve / Reject / Acknowledge / False positive / Silence: kept before Slack's
    acknowledgement and applied after it (also by another gateway, or this one restarted,
    when this one dies first); the message is then updated through the payload's
    `response_url`."""
    body = await _verifier(request).verified_body(request)
    payload = parse_payload(body)
    if payload is not None:
        interactions: SlackInteractions = gateway(request).slack.interactions
        await interactions.accept(payload, correlation_id)
    return Response(status_code=200)


def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SlackVerificationError)
    return problem(401, "Unauthorized", f"Slack request refused: {exc.reason}")


def _malformed(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MalformedSlackRequestError)
    return problem(400, "Bad request", f"Slack request: {exc}")


def add_slack_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SlackVerificationError, _refused)
    app.add_exception_handler(MalformedSlackRequestError, _malformed)

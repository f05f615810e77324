"""ChatOps acts on what the person sees and confirmed, once: several "yes" at once run a
proposal once; "dry run" with a hidden character stays a dry run; a number in other digits is
not read as 10; a Slack message too long to read whole is refused, never cut and run."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx

from shared.tasks import EXECUTE_REQUEST, REMEDIATION_QUEUE
from tests.integration.gateway_chatops.conftest import OPERATOR_SLACK, Stack
from tests.integration.gateway_chatops.test_chatops_api import _execute_requests
from tests.integration.gateway_chatops.test_chatops_understanding import slack_answer


def queued_dry_runs(stack: Stack) -> list[bool]:
    """The ``dry_run`` of every manual request queued for the workers, oldest first."""
    found = []
    for raw in reversed(stack.redis.lrange(REMEDIATION_QUEUE, 0, -1)):
        message = json.loads(raw)
        if message["headers"]["task"] != EXECUTE_REQUEST:
            continue
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        _args, kwargs, _embed = json.loads(body)
        found.append(bool(kwargs["request"]["dry_run"]))
    return found


async def _yes_together(stack: Stack, times: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def yes() -> dict[str, Any]:
            reply = await client.post(
                f"{stack.gateway.url}/chatops/query",
                json={"query": "yes"},
                headers={"X-API-Key": stack.keys["operator"]},
            )
            assert reply.status_code == 200, reply.text
            answer: dict[str, Any] = reply.json()
            return answer

        return list(await asyncio.gather(*(yes() for _ in range(times))))


def test_a_proposal_confirmed_by_several_yes_at_once_runs_once(stack: Stack) -> None:
    proposal = stack.ask("could you kick gunicorn on web-1, it's stuck", "operator")
    assert proposal["outcome"] == "confirm", proposal
    before = _execute_requests(stack)
    answers = asyncio.run(_yes_together(stack, 6))
    assert [a["outcome"] for a in answers].count("accepted") == 1, answers
    assert _execute_requests(stack) - before == 1
    assert any("confirmed already" in a["text"] for a in answers)


def test_dry_run_said_with_a_hidden_character_is_queued_as_a_dry_run(stack: Stack) -> None:
    before = len(queued_dry_runs(stack))
    answer = stack.ask("restart nginx on web-6 because dry\u200brun first", "operator")
    assert answer["outcome"] == "accepted", answer
    assert queued_dry_runs(stack)[before:] == [True]


def test_a_number_in_other_digits_is_not_read(stack: Stack) -> None:
    answer = stack.ask("silence web-8 for 1\u0660m", "operator")
    assert answer["outcome"] == "not_understood", answer
    assert "digits 0-9" in answer["text"]


def test_a_slack_command_too_long_to_read_whole_is_refused_not_cut(stack: Stack) -> None:
    reason = "the workers are stuck again, " * 17
    before = _execute_requests(stack)
    answer = slack_answer(
        stack, f"restart nginx on web-5 because {reason}so only as a dry run", OPERATOR_SLACK
    )
    assert "never cut" in answer["text"] and "Nothing was done" in answer["text"], answer
    assert _execute_requests(stack) == before


def _silences_of(stack: Stack, resource: str) -> list[dict[str, Any]]:
    reply = httpx.get(
        f"{stack.gateway.url}/notifications/silences",
        headers={"X-API-Key": stack.keys["operator"]},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return [s for s in reply.json() if s["matchers"].get("resource") == resource]


def test_a_query_sent_again_with_its_request_id_is_answered_once(stack: Stack) -> None:
    """A client that got no answer (a timeout) sends the same query again: the command is not
    carried out twice, and the second call gets the first answer."""

    def ask() -> httpx.Response:
        return httpx.post(
            f"{stack.gateway.url}/chatops/query",
            json={"query": "silence web-7 for 10m", "request_id": "retry-7"},
            headers={"X-API-Key": stack.keys["operator"]},
            timeout=30,
        )

    first, again = ask(), ask()
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json()["outcome"] == "accepted", first.json()
    assert again.json() == first.json()
    assert len(_silences_of(stack, "web-7")) == 1
    other = httpx.post(
        f"{stack.gateway.url}/chatops/query",
        json={"query": "silence web-7 for 10m", "request_id": "retry-7"},
        headers={"X-API-Key": stack.keys["admin"]},
        timeout=30,
    )
    assert other.json()["outcome"] == "accepted"  # another key's ids are its own
    assert len(_silences_of(stack, "web-7")) == 2

"""A Slack click is applied at least once: kept on the clicks stream, it is applied again when
the gateway that took it was killed before acknowledging it. Applied again, a False positive or
Silence click changes nothing more: the detector logs the verdict once, the notifier keeps one
silence, and the message reads as it did the first time.

The second application is the stored click itself (the same event, written again on the clicks
stream), applied by the real gateway as a successor would apply the pending entry. A client of
the gateway's API retrying a POST it had no answer to is answered the same way."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from shared.streams import SLACK_CLICKS
from tests.integration.gateway_chatops.conftest import OPERATOR_SLACK, Stack
from tests.integration.gateway_chatops.seeds import detector_anomaly
from tests.integration.gateway_chatops.test_slack import ANOMALY_MESSAGE, anomaly_value, click


def apply_again(stack: Stack, name: str) -> None:
    """The click whose response URL ends with ``name``, as stored, on the stream once more."""
    (fields,) = [
        f
        for _, f in stack.redis.xrange(SLACK_CLICKS)
        if stack.response_url(name) in json.loads(f[b"data"])["payload"]
    ]
    stack.redis.xadd(SLACK_CLICKS, fields)


def lines(stack: Stack, name: str) -> list[str]:
    return [
        update.body["blocks"][-1]["elements"][0]["text"]
        for update in stack.posted_to(name, count=2)
    ]


def test_a_false_positive_click_applied_again_gives_the_verdict_once(stack: Stack) -> None:
    anomaly_id = detector_anomaly(stack.redis, "web-once", "HighCPU")
    value = anomaly_value(anomaly_id, resource_id="web-once")
    _, name = click(stack, OPERATOR_SLACK, "scops.anomaly.false_positive", value, ANOMALY_MESSAGE)
    stack.posted_to(name)
    apply_again(stack, name)
    first, again = lines(stack, name)
    assert again == first
    logged = [
        f
        for _, f in stack.redis.xrange("scops:{feedback}")
        if f[b"anomaly_id"].decode() == anomaly_id
    ]
    assert len(logged) == 1, logged


@pytest.mark.parametrize("button", ["anomaly", "group"])
def test_a_silence_click_applied_again_keeps_one_silence(stack: Stack, button: str) -> None:
    resource = f"web-{uuid.uuid4().hex[:8]}"
    matchers = {"resource": resource, "metric": "HighCPU"}
    if button == "anomaly":
        value = anomaly_value(str(uuid.uuid4()), resource_id=resource)
        value |= {"silence_s": 3600, "silence": matchers}
    else:
        value = {
            "group_id": uuid.uuid4().hex[:24],
            "receiver": "ops",
            "alerts": 2,
            "silence_s": 3600,
            "silence": matchers,
        }
    _, name = click(stack, OPERATOR_SLACK, f"scops.{button}.silence", value, ANOMALY_MESSAGE)
    stack.posted_to(name)
    apply_again(stack, name)
    first, again = lines(stack, name)
    assert first.startswith(":no_bell: Silenced for 1 h")
    assert again == first  # the same silence
    silences = httpx.get(f"{stack.url('notifier')}/notifications/silences", timeout=10).json()
    assert len([s for s in silences if s["matchers"]["resource"] == resource]) == 1


def test_a_client_retrying_through_the_gateway_api_applies_once(stack: Stack) -> None:
    """A client without an answer (a timeout) sends its POST again: the same verdict on the
    same anomaly, the same silence request (its ``request_id``)."""
    headers = {"X-API-Key": stack.keys["operator"]}
    anomaly_id = detector_anomaly(stack.redis, "web-retry", "HighCPU")
    feedback = f"{stack.gateway.url}/anomaly/{anomaly_id}/feedback"
    verdict = {"verdict": "false_positive", "note": "nightly batch job"}
    first, again = (httpx.post(feedback, json=verdict, headers=headers, timeout=10) for _ in "12")
    assert first.status_code == again.status_code == 200, again.text
    assert first.json()["already_given"] is False
    assert again.json() == {**first.json(), "already_given": True}
    logged = [
        f
        for _, f in stack.redis.xrange("scops:{feedback}")
        if f[b"anomaly_id"] == anomaly_id.encode()
    ]
    assert len(logged) == 1, logged

    resource = f"web-{uuid.uuid4().hex[:8]}"
    silence = {
        "matchers": {"resource": resource},
        "duration_s": 3600,
        "comment": "load test",
        "request_id": f"deploy-{resource}",
    }
    silences = f"{stack.gateway.url}/notifications/silences"
    made, remade = (httpx.post(silences, json=silence, headers=headers, timeout=10) for _ in "12")
    assert made.status_code == remade.status_code == 201, remade.text
    assert remade.json() == made.json()
    kept = httpx.get(silences, headers=headers, timeout=10).json()
    assert [s["id"] for s in kept if s["matchers"]["resource"] == resource] == [made.json()["id"]]

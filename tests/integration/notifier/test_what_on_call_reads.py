"""What the on-call person reads in Slack, through the notifier's app
(its lifespan: intake, scheduler, delivery workers) on the suite's Redis, to the Slack
stand-in (a real HTTP server). Events are published on the streams as the detector, the
gateway's Alertmanager receiver and the remediator publish them.
"""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from typing import Any

from shared.events import RemediationStatus, utcnow
from shared.identifiers import visible
from tests.integration.notifier.conftest import Start, eventually
from tests.support.notifier_events import anomaly, record
from tests.support.slack_standin import SlackStandIn


def section_texts(body: dict[str, Any]) -> str:
    return "\n".join(
        b["text"]["text"] for b in body["blocks"] if b["type"] == "section" and "text" in b
    )


def slack_shows(mrkdwn: str) -> str:
    """What Slack displays for a mrkdwn text: its three entities decoded, once."""
    return mrkdwn.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def test_the_phone_line_of_an_anomaly_shows_the_decisions_reason_as_written(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # The notification text (what a phone's lock screen shows) of an anomaly carries the
    # remediator's decision folded into it; the decision's summary is mrkdwn (escaped once)
    # and the whole text is escaped as it is sent: the reason is escaped once, not twice.
    running = await start_notifier()
    event = anomaly(resource_id="web-1", at=utcnow())
    failed = record(
        event,
        RemediationStatus.FAILED,
        reason="exit code 1: nginx.service <stopped> & restart refused",
    )
    await running.publish(event, failed)
    await eventually(lambda: len(slack.accepted) == 1, what="the anomaly's message")
    await running.settled()
    (body,) = slack.accepted
    shown = slack_shows(body["text"])
    # not "nginx.service &lt;stopped&gt; &amp; restart refused" (escaped twice)
    assert "nginx.service <stopped> & restart refused" in shown, shown


async def test_a_long_alert_summary_does_not_hide_what_was_done(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # An Alertmanager alert's summary is kept up to 2,000 visible characters by the gateway.
    # Escaped for mrkdwn it grows (`<` and `>` become 4 characters, `&` 5) past Slack's
    # 3,000 of a section: the summary gives way, never the *Decision:* line (what the
    # remediator did). A summary written for an e-mail receiver (an HTML table of hosts) is
    # enough; so is anyone with an ingest key who would want an action to go unseen.
    rows = "".join(f"<tr><td>api-{i}</td><td>p99 {2 + i / 10:.1f}s</td></tr>" for i in range(60))
    summary = visible(f"p99 latency above 2s on checkout: <table>{rows}</table>")[:2000]
    running = await start_notifier()
    event = anomaly(
        resource_id="api-1",
        metric="latency_p99",
        at=utcnow(),
        value=3.4,
        expected_low=3.4,
        expected_high=3.4,  # an alert's value is both bounds: no band is claimed
        explanation=summary,
        detectors=["alertmanager"],
    )
    ran = record(event, RemediationStatus.SUCCEEDED, duration_s=12.0, exit_code=0)
    await running.publish(event, ran)
    await eventually(lambda: len(slack.accepted) == 1, what="the anomaly's message")
    await running.settled()
    (body,) = slack.accepted
    assert "Ran `restart_service` on `api-1`: succeeded" in body["text"]  # the phone has it
    sections = section_texts(body)
    # the summary is clipped, not the *Decision:* line after it
    assert "*Decision:* Ran `restart_service` on `api-1`: succeeded" in sections, sections[-200:]


async def test_a_reminder_says_how_long_the_alert_has_been_firing(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # The detector publishes one event per episode (another only when its severity rises),
    # and Alertmanager's repeats of one alert are the same anomaly: no event updates how
    # long the alert has lasted. A reminder says how long since it started firing.
    running = await start_notifier(repeat_interval_s=4.0)
    event = anomaly(resource_id="web-7", at=utcnow())
    await running.publish(event)
    await eventually(lambda: len(slack.accepted) == 2, timeout=20, what="the reminder")
    _first, reminder = slack.accepted[:2]
    text = section_texts(reminder)
    assert "_Still firing_ since" in text  # it is the reminder
    # not "just started" 4 s after the first message
    assert "just started" not in text, text
    assert re.search(r"lasting [0-9]+ s", text), text


async def test_a_value_and_its_band_are_told_apart(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # An ALB's request count of 12,345 against an expected 9,000 to 12,344: written with
    # four significant digits in exponent notation, the value would read as the top of the
    # range it is said to be out of (1.234e+04).
    running = await start_notifier()
    event = anomaly(
        resource_id="alb-web",
        metric="request_count",
        at=utcnow(),
        value=12_345.0,
        expected_low=9_000.0,
        expected_high=12_344.0,
    )
    await running.publish(event)
    await eventually(lambda: len(slack.accepted) == 1, what="the anomaly's message")
    (body,) = slack.accepted
    shown = html.unescape(body["text"])
    match = re.search(r"request_count on alb-web: (\S+) \(expected (\S+) to (\S+)\)", shown)
    assert match is not None, shown
    value, _low, high = match.groups()
    assert value != high, shown
    assert "e+" not in shown, shown
    assert json.dumps(body)  # (the message itself was accepted)


async def test_an_alert_firing_for_two_hours_is_not_told_as_just_started(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # The gateway's Alertmanager receiver publishes an alert as an anomaly whose episode
    # started at the alert's startsAt, with no duration of its own. An alert that has fired
    # for two hours (a `for: 2h` rule, or Alertmanager reaching the gateway again after an
    # outage) is told as lasting two hours.
    running = await start_notifier()
    started = utcnow() - timedelta(hours=2)
    event = anomaly(
        resource_id="web-8",
        metric="HighCPU",
        at=started,
        occurred_at=utcnow(),
        episode_started_at=started,
        expected_low=97.5,
        expected_high=97.5,
        explanation="CPU above 95 % for 5 minutes",
        detectors=["alertmanager"],
    )
    await running.publish(event)
    await eventually(lambda: len(slack.accepted) == 1, what="the alert's message")
    text = section_texts(slack.accepted[0])
    # not "just started" (nor in any reminder)
    assert "just started" not in text, text
    assert "lasting 2 h" in text, text


async def test_an_approval_request_slack_only_asked_to_wait_for_is_delivered(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # Slack throttles an incoming webhook (429 with Retry-After) during a burst, exactly when
    # an incident makes the most messages. A 429 is "wait", not "refused": five throttled
    # tries in a row (SCOPS_DELIVERY_ATTEMPTS) do not dead-letter the approval request,
    # which would leave the action waiting unseen until it expires.
    running = await start_notifier()
    slack.answer(429, {"Retry-After": "1"}, times=5)
    event = anomaly(resource_id="pool-9", at=utcnow())
    pending = record(
        event,
        RemediationStatus.PENDING_APPROVAL,
        action="scale_in",
        approval_id="c" * 32,
        expires_at=utcnow() + timedelta(minutes=30),
    )
    await running.publish(pending)
    rows = await running.wait_deliveries(1, timeout=20)  # its outcome, once recorded
    outcome = [(r["kind"], r["status"], r.get("attempts"), r.get("error")) for r in rows]
    assert [r["status"] for r in rows] == ["delivered"], outcome
    assert any(b["text"].startswith(":raised_hand:") for b in slack.accepted), outcome


async def test_a_message_throttled_for_longer_than_its_bound_is_dead_lettered_saying_so(
    start_notifier: Start, slack: SlackStandIn
) -> None:
    # Throttled tries are not counted, but they are not endless either: a receiver that
    # keeps answering 429 for longer than SCOPS_THROTTLED_MAX_S in all gets the message
    # dead-lettered (to replay), with what happened.
    running = await start_notifier(throttled_max_s=2.5, delivery_attempts=20)
    slack.answer(429, {"Retry-After": "1"}, times=50)
    event = anomaly(resource_id="pool-10", at=utcnow())
    pending = record(
        event,
        RemediationStatus.PENDING_APPROVAL,
        action="scale_in",
        approval_id="d" * 32,
        expires_at=utcnow() + timedelta(minutes=30),
    )
    await running.publish(pending)
    (row,) = await running.wait_deliveries(1, timeout=20)
    assert row["status"] == "dead_lettered", row
    assert "throttled for 2 s: gave up" in row["error"], row
    assert 2 <= row["attempts"] <= 4, row  # tries 1 s apart until the 2.5 s were spent

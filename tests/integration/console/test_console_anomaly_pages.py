"""The anomalies page says when more anomalies match than it shows, and pages on to them."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from html import unescape

from redis.asyncio import Redis

from shared.bus import EventBus
from shared.events import AnomalyEvent, AnomalyResolved, Severity
from shared.streams import ANOMALIES
from tests.integration.console.conftest import ConsoleStack
from tests.integration.console.session_client import ConsoleClient
from tests.integration.console.test_console_incidents import _publish

RESOURCE, METRIC = "paged-3", "queue_depth"  # no rule acts on it
MANY = 105  # more than one page of the console's list


def _low(at: datetime) -> AnomalyEvent:
    return AnomalyEvent(
        event_id=uuid.uuid4(),
        resource_id=RESOURCE,
        metric=METRIC,
        value=900.0,
        observed_at=at,
        score=0.7,
        severity=Severity.LOW,
        expected_low=0.0,
        expected_high=120.0,
        model_version="test",
        explanation=f"{METRIC}=900 is above the expected 0 to 120",
    )


def _resolve(redis_url: str, events: list[AnomalyEvent]) -> None:
    """Each anomaly opened an incident: resolved, they leave the open incidents other tests of
    the shared stack list."""

    async def go() -> None:
        client = Redis.from_url(redis_url)
        try:
            bus = EventBus(client, 10_000)
            for e in events:
                ended = AnomalyResolved(
                    anomaly_id=e.event_id,
                    resource_id=e.resource_id,
                    metric=e.metric,
                    started_at=e.observed_at,
                    resolved_at=e.observed_at,
                    duration_s=0.0,
                    peak_severity=e.severity,
                    last_value=e.value,
                )
                await bus.publish(ANOMALIES, ended)
        finally:
            await client.aclose()

    asyncio.run(go())


def _rows(text: str) -> int:
    return len(re.findall(r"<tr><td>", text))


def test_the_anomalies_page_says_more_exist_and_pages_on_to_them(
    console_stack: ConsoleStack, console: ConsoleClient
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    events = [_low(now - timedelta(seconds=i)) for i in range(MANY)]
    _publish(console_stack.redis_url, *events)
    _resolve(console_stack.redis_url, events)
    console.sign_in(console_stack.key("viewer", "vera"))
    operator = console_stack.key("operator", "olga")
    deadline = time.monotonic() + 30
    while True:
        first = console_stack.api(
            "GET", f"/anomalies?resource_id={RESOURCE}&limit=200", operator
        ).json()["items"]
        if len(first) == MANY:
            break
        assert time.monotonic() < deadline, len(first)
        time.sleep(0.2)
    page = console.page(f"/console/anomalies?resource_id={RESOURCE}&severity=low")
    assert page.status_code == 200
    assert "<option selected>low</option>" in page.text  # the filter chosen stays chosen
    shown = _rows(page.text)
    assert 0 < shown < MANY, shown
    older = re.search(
        r'<a href="(/console/anomalies\?[^"]*cursor=[^"]*)">Older anomalies</a>', page.text
    )
    assert older, page.text[-2000:]
    assert "more anomalies match" in page.text.lower(), page.text[-2000:]
    rest = console.page(unescape(older.group(1)))
    assert rest.status_code == 200, (older.group(1), rest.text[-1500:])
    assert _rows(rest.text) == MANY - shown, rest.text[-2000:]
    assert "Older anomalies" not in rest.text
    assert console.page("/console/anomalies?cursor=zzz").status_code == 400

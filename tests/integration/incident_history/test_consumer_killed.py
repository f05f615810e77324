"""A history consumer killed (SIGKILL) in the middle of a batch loses nothing and duplicates
nothing: what it read and had not acknowledged is taken over by the next process, and writing
an event twice changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from shared.events import Event, utcnow
from shared.streams import ANOMALIES, NOTIFICATIONS, REMEDIATIONS
from tests.integration.incident_history.running import (
    Counts,
    counts,
    history_env,
    history_process,
    publish,
)
from tests.support.incident_story import blocked_incident, whole_incident
from tests.support.waiting import wait_for

INCIDENTS = 400  # 200 of each story: 2,600 events, 3,000 steps


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_consumer_killed_mid_batch_loses_and_duplicates_nothing(
    backend: str, redis_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    else:
        make: Callable[[], str] = request.getfixturevalue("postgres")
        database_url = make()
    env = history_env(redis_url, database_url, SCOPS_CONSUMER_BATCH="20")
    start = utcnow() - timedelta(days=1)
    events: list[Event] = []
    for i in range(INCIDENTS // 2):
        events += whole_incident(f"web-{i}", "cpu_utilization", start + timedelta(seconds=i))
        events += blocked_incident(f"db-{i}", "disk_used", start + timedelta(seconds=i))
    expected = Counts(
        incidents=INCIDENTS, steps=INCIDENTS // 2 * (11 + 4), audit=INCIDENTS // 2 * 5
    )

    first = history_process(env, tmp_path, "-1").start()
    try:
        first.wait_ready()
        publish(redis_url, events)
        wait_for(first, lambda: counts(database_url).steps > 100, 60, "the first writes")
        first.kill()
    finally:
        first.kill()
    halfway = counts(database_url)
    assert halfway.steps < expected.steps, "killed before the end"
    client = redis.Redis.from_url(redis_url)
    try:
        pending = sum(
            int(client.xpending(s, "history")["pending"])
            for s in (ANOMALIES, REMEDIATIONS, NOTIFICATIONS)
        )
        assert pending > 0, "the killed consumer held unacknowledged entries"

        second = history_process(env, tmp_path, "-2").start()
        try:
            second.wait_ready()
            wait_for(second, lambda: counts(database_url) == expected, 120, "every event")
            wait_for(
                second,
                lambda: all(
                    int(client.xpending(s, "history")["pending"]) == 0
                    for s in (ANOMALIES, REMEDIATIONS, NOTIFICATIONS)
                ),
                30,
                "every entry acknowledged",
            )
            assert counts(database_url) == expected
        finally:
            second.stop()
    finally:
        client.close()
    assert '"event": "entries_reclaimed"' in second.log_text()

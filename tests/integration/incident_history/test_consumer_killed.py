"""A history consumer killed (SIGKILL) in the middle of a batch loses nothing and duplicates
nothing: what it read and had not acknowledged is taken over by the next process, and writing
an event twice changes nothing."""

from __future__ import annotations

import os
import signal
import time
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
from tests.support.processes import StackProcess
from tests.support.waiting import wait_for

INCIDENTS = 400  # 200 of each story: 2,600 events, 3,000 steps
STREAMS = (ANOMALIES, REMEDIATIONS, NOTIFICATIONS)


def pending(client: redis.Redis) -> int:
    return sum(int(client.xpending(s, "history")["pending"]) for s in STREAMS)


def kill_holding_entries(process: StackProcess, client: redis.Redis) -> bool:
    """SIGKILL the consumer at a moment it holds entries it read and has not acknowledged.

    Between acknowledging one batch and reading the next it holds none, so a kill at a random
    moment can miss the case under test on a busy machine: the process is frozen (SIGSTOP),
    looked at, and killed only while it holds some, else let go on a little."""
    assert process.process is not None
    pid = process.process.pid
    for _ in range(500):
        os.kill(pid, signal.SIGSTOP)
        if pending(client) > 0:
            process.kill()
            return True
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.002)
    return False


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

    client = redis.Redis.from_url(redis_url)
    first = history_process(env, tmp_path, "-1").start()
    try:
        first.wait_ready()
        publish(redis_url, events)
        wait_for(first, lambda: counts(database_url).steps > 100, 60, "the first writes")
        assert kill_holding_entries(first, client), "killed while it held unacknowledged entries"
    finally:
        first.kill()
    halfway = counts(database_url)
    assert halfway.steps < expected.steps, "killed before the end"
    try:
        second = history_process(env, tmp_path, "-2").start()
        try:
            second.wait_ready()
            wait_for(second, lambda: counts(database_url) == expected, 120, "every event")
            wait_for(
                second,
                lambda: pending(client) == 0,
                30,
                "every entry acknowledged",
            )
            assert counts(database_url) == expected
        finally:
            second.stop()
    finally:
        client.close()
    assert '"event": "entries_reclaimed"' in second.log_text()

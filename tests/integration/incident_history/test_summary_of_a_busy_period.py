"""ChatOps about a busy period, through the gateway, from a real history service, remediator
and the gateway's anomaly index: the counts are the period's, not the size of the first page
each gives, and an open anomaly is found however many came after it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis

from services.remediator.stores.audit import RecordPublisher
from shared.events import RemediationStatus, Severity, utcnow
from tests.integration.incident_history.running import history_env, history_process, publish
from tests.support.incident_story import opener, record, resolution
from tests.support.processes import StackProcess, api_key, service
from tests.support.waiting import wait_for

INCIDENTS = 620  # more than one page (500) of incidents and of decisions


@pytest.fixture(scope="module")
def ask(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    tmp: Path = tmp_path_factory.mktemp("busy")
    env = history_env(module_redis, f"sqlite+aiosqlite:///{tmp / 'history.db'}")
    env["SCOPS_HISTORY_URL"] = f"http://127.0.0.1:{env['SCOPS_HISTORY_PORT']}"
    history = history_process(env, tmp)
    processes: list[StackProcess] = [
        history.start(),
        service("gateway", env, tmp).start(),
        service("remediator", env, tmp).start(),
    ]
    started = utcnow() - timedelta(minutes=30)
    anomalies = [
        opener(f"burst-{i}", "cpu_utilization", started + timedelta(seconds=i))
        for i in range(INCIDENTS)
    ]
    try:
        for process in processes:
            process.wait_ready(90)
        publish(module_redis, anomalies)
        # As a worker records them: on the remediations stream and in the audit log.
        client = redis.Redis.from_url(module_redis)
        try:
            RecordPublisher(client, maxlen=100_000, audit_maxlen=100_000).publish_many(
                [record(a, RemediationStatus.NO_ACTION, 1) for a in anomalies]
            )
        finally:
            client.close()
        key = {"X-API-Key": api_key(module_redis, "viewer", "busy-viewer")}
        gateway = str(processes[1].url)

        def written() -> bool:
            listed = httpx.get(
                f"{gateway}/incidents",
                params={"limit": "500", "resource_id": f"burst-{INCIDENTS - 1}"},
                headers=key,
            )
            return len(listed.json().get("items", [])) == 1

        wait_for(history, written, 60, "the last incident written")
        yield {"url": gateway, **key}
    finally:
        for process in processes:
            process.stop()


def _answer(ask: dict[str, str], query: str) -> str:
    reply = httpx.post(
        f"{ask['url']}/chatops/query",
        json={"query": query},
        headers={"X-API-Key": ask["X-API-Key"]},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    text: str = reply.json()["text"]
    return text


def test_a_summary_counts_every_incident_and_decision_of_the_period(ask: dict[str, str]) -> None:
    text = _answer(ask, "summary of the last 2h")
    assert f"• {INCIDENTS} incidents ({INCIDENTS} high), {INCIDENTS} still open" in text, text
    assert f"• {INCIDENTS} remediation decisions: {INCIDENTS} no_action" in text, text


def test_the_status_says_when_the_hour_held_more_than_it_counted(ask: dict[str, str]) -> None:
    text = _answer(ask, "status")
    assert "• anomalies: 500+ in the last hour, 500+ still open" in text, text


def test_an_open_anomaly_is_found_behind_a_flapping_series(
    ask: dict[str, str], module_redis: str
) -> None:
    """A disk full for an hour, then 120 short episodes of other metrics on the same resource:
    "what's wrong with it" read only the newest 100 and answered "no open anomaly"."""
    started = utcnow() - timedelta(hours=1)
    disk = opener("flappy-1", "disk_used_percent", started, severity=Severity.CRITICAL)
    flaps = [
        opener("flappy-1", f"flap_{i}", started + timedelta(minutes=10, seconds=i))
        for i in range(120)
    ]
    publish(module_redis, [disk, *flaps, *(resolution(f, 30) for f in flaps)])

    def indexed() -> bool:
        listed = httpx.get(
            f"{ask['url']}/anomalies",
            params={"resource_id": "flappy-1", "limit": "500"},
            headers={"X-API-Key": ask["X-API-Key"]},
        ).json()["items"]
        return len(listed) == 121 and sum(1 for a in listed if a.get("resolved_at")) == 120

    deadline = time.monotonic() + 30
    while not indexed():
        assert time.monotonic() < deadline, "the anomalies were not indexed"
        time.sleep(0.1)
    text = _answer(ask, "what's wrong with flappy-1?")
    assert text.startswith(
        "*flappy-1* has 1 open anomaly (worst: critical) and 120 resolved in the last day."
    ), text
    assert "`disk_used_percent`" in text

"""The history service as a process: events published on the streams become incidents with
their whole timeline, read through its API by filter and page, exported; bad input is a
problem document naming the field."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from shared.events import Event, utcnow
from shared.incidents import Incident, IncidentPage, TimelineKind
from shared.web import PROBLEM_JSON
from tests.integration.incident_history.running import history_env, history_process, publish
from tests.support.incident_story import blocked_incident, whole_incident
from tests.support.processes import StackProcess
from tests.support.waiting import wait_for

START = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
FEEDBACK_STREAM = "scops:{feedback}"


@dataclass(frozen=True)
class Running:
    process: StackProcess
    redis_url: str
    events: list[Event]

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.process.url}{path}", params=params, timeout=10)


def _database(request: pytest.FixtureRequest, tmp: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'history.db'}"
    make: Callable[[], str] = request.getfixturevalue("postgres")
    return make()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def running(
    request: pytest.FixtureRequest, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    tmp = tmp_path_factory.mktemp("history")
    process = history_process(history_env(redis_server, _database(request, tmp)), tmp)
    process.start()
    events: list[Event] = []
    for i in range(4):
        events += whole_incident(f"web-{i}", "cpu_utilization", START + timedelta(minutes=i))
        events += blocked_incident(f"db-{i}", "disk_used", START + timedelta(minutes=i, seconds=1))
    try:
        process.wait_ready()
        publish(redis_server, events)
        client.xadd(
            FEEDBACK_STREAM,
            {
                "anomaly_id": str(events[0].event_id),
                "verdict": "true_positive",
                "by": "dave",
                "note": "real load",
                "anomaly": "{}",
            },
        )
        silence = {
            "id": "quiet-web",
            "matchers": {"resource": "web-*"},
            "created_by": "carol",
            "comment": "load test",
            "starts_at": START.isoformat(),
            "ends_at": (START + timedelta(hours=4)).isoformat(),
        }
        client.hset("scops:{notifier}:silences", "quiet-web", json.dumps(silence))
        run = Running(process, redis_server, events)
        wait_for(
            process,
            lambda: (
                run.get("/audit", limit=500).json()["items"].__len__() == 4 * 5
                and _steps(run, events[0].event_id) == 12
            ),
            30,
            "every event recorded",
        )
        yield run
        process.assert_alive()
    finally:
        process.stop()
        client.close()


def _steps(run: Running, incident_id: uuid.UUID) -> int:
    reply = run.get(f"/incidents/{incident_id}")
    return len(reply.json()["timeline"]) if reply.status_code == 200 else 0


def test_an_incident_reads_as_one_timeline_with_who_and_when(running: Running) -> None:
    first = running.events[0]
    reply = running.get(f"/incidents/{first.event_id}")
    assert reply.status_code == 200
    incident = Incident.model_validate(reply.json())
    assert (incident.resource_id, incident.status, incident.severity) == (
        "web-0",
        "resolved",
        "critical",
    )
    kinds = [s.kind for s in incident.timeline]
    assert kinds[:2] == [TimelineKind.FIRST_OUT_OF_RANGE, TimelineKind.ANOMALY]
    assert kinds[-2:] == [TimelineKind.RESOLUTION, TimelineKind.FEEDBACK]  # given just now
    assert {TimelineKind.ESCALATION, TimelineKind.APPROVAL, TimelineKind.ACTION} <= set(kinds)
    assert {TimelineKind.VERIFICATION, TimelineKind.NOTIFICATION, TimelineKind.FEEDBACK} <= set(
        kinds
    )
    who = {(s.kind, s.status): s.actor for s in incident.timeline}
    assert who[(TimelineKind.APPROVAL, "approved")] == "alice"
    assert who[(TimelineKind.FEEDBACK, "true_positive")] == "dave"
    action = next(s for s in incident.timeline if s.status == "succeeded")
    assert action.detail["output_excerpt"] == "nginx restarted"
    assert [s.at for s in incident.timeline] == sorted(s.at for s in incident.timeline)


def test_filters_and_cursor_pages_list_every_match_once(running: Running) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"resource_id": "db-*", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = IncidentPage.model_validate(running.get("/incidents", **params).json())
        seen += [i.resource_id for i in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ["db-3", "db-2", "db-1", "db-0"]

    def resources(**params: Any) -> set[str]:
        reply = running.get("/incidents", **params)
        assert reply.status_code == 200, reply.text
        return {i["resource_id"] for i in reply.json()["items"]}

    web = {f"web-{i}" for i in range(4)}
    assert resources(severity="critical") == web
    assert resources(outcome="blocked") == {f"db-{i}" for i in range(4)}
    assert resources(rule="cpu-restart", action="restart_service", status="resolved") == web | {
        f"db-{i}" for i in range(4)
    }
    since = (START + timedelta(minutes=3)).isoformat()
    assert resources(since=since) == {"web-3", "db-3"}
    assert resources(resource_id="web-1") == {"web-1"}


def test_the_audit_log_is_read_from_the_database(running: Running) -> None:
    reply = running.get("/audit", resource_id="db-2")
    assert reply.status_code == 200
    assert [r["blocked_by"] for r in reply.json()["items"]] == ["cooldown"]
    approved = running.get("/audit", status="approved", limit=2).json()
    assert len(approved["items"]) == 2 and approved["next_cursor"] is not None
    rest = running.get("/audit", status="approved", cursor=approved["next_cursor"]).json()
    assert len(rest["items"]) == 2 and rest["next_cursor"] is None


def test_exports_hold_every_incident_as_json_lines_and_csv(running: Running) -> None:
    lines = running.get("/export/incidents", format="jsonl")
    assert lines.headers["content-type"].startswith("application/x-ndjson")
    exported = [Incident.model_validate_json(line) for line in lines.text.splitlines()]
    assert len(exported) == 8 and all(i.timeline for i in exported)
    table = running.get("/export/incidents", format="csv", severity="medium")
    assert table.headers["content-type"].startswith("text/csv")
    assert 'filename="incidents.csv"' in table.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert sorted(r["resource_id"] for r in rows) == [f"db-{i}" for i in range(4)]
    audit = list(csv.DictReader(io.StringIO(running.get("/export/audit", format="csv").text)))
    assert len(audit) == 20 and {"decided_by", "output_excerpt"} <= set(audit[0])


def test_ready_checks_the_database_and_redis(running: Running) -> None:
    reply = running.get("/ready")
    assert reply.status_code == 200
    assert reply.json()["checks"] == {"redis": "ok", "database": "ok"}


def test_silences_are_copied_from_the_notifier(running: Running) -> None:
    # Copied on a timer (every 0.5 s here), independently of the events awaited above.
    wait_for(running.process, lambda: _silences_copied(running) >= 1, 10, "the silence copied")


def _silences_copied(running: Running) -> float:
    found = re.search(
        r'^history_events_recorded_total\{kind="silence"\} (\S+)$',
        running.get("/metrics").text,
        re.MULTILINE,
    )
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/incidents", {"severity": "dire"}, "severity[0]"),
        ("/incidents", {"status": "finished"}, "status"),
        ("/incidents", {"kind": "chatops"}, "kind"),
        ("/incidents", {"limit": "0"}, "limit"),
        ("/incidents", {"limit": "501"}, "limit"),
        ("/incidents", {"since": "yesterday"}, "since"),
        ("/incidents", {"cursor": "not-a-cursor"}, "cursor"),
        ("/incidents", {"outcome": "exploded"}, "outcome"),
        ("/incidents/not-a-uuid", {}, "incident_id"),
        ("/audit", {"cursor": "12-3"}, "cursor"),
        ("/export/incidents", {"format": "xlsx"}, "format"),
        # a NUL cannot be bound as PostgreSQL text (it failed the query: a 500, or an export
        # cut after its 200)
        ("/incidents", {"resource_id": "web\x00*"}, "resource_id"),
        ("/export/incidents", {"rule": "\x00"}, "rule"),
        ("/audit", {"anomaly_id": "a\x00"}, "anomaly_id"),
        ("/export/audit", {"blocked_by": "\x00"}, "blocked_by"),
        # a window that ends before it starts is a mistake to say, not an empty page (as the
        # gateway's anomaly list answers it)
        ("/incidents", {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
        ("/audit", {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T23:59:59Z"}, "until"),
        ("/export/incidents", {"since": "2026-12-02T00:00:00Z", "until": "2026-12-01"}, "until"),
        ("/export/audit", {"since": "2026-12-02T00:00:01Z", "until": "2026-12-02"}, "until"),
    ],
)
def test_bad_input_is_a_problem_naming_the_field(
    running: Running, path: str, params: dict[str, str], field: str
) -> None:
    reply = running.get(path, **params)
    assert reply.status_code == 422, reply.text
    assert reply.headers["content-type"] == PROBLEM_JSON
    body = reply.json()
    assert body["status"] == 422 and body["detail"].startswith(f"{field}: ")
    assert body["errors"][0]["field"] == field


def test_an_unknown_incident_is_a_404_problem(running: Running) -> None:
    reply = running.get(f"/incidents/{uuid.uuid4()}")
    assert reply.status_code == 404
    assert reply.headers["content-type"] == PROBLEM_JSON
    assert "no incident" in reply.json()["detail"]


def test_times_in_answers_are_utc(running: Running) -> None:
    item = running.get("/incidents", limit=1).json()["items"][0]
    assert datetime.fromisoformat(item["opened_at"]).tzinfo == UTC

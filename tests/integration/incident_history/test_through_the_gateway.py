"""The history through the gateway: the same keys and roles as every other route, answers and
files passed on as the history gives them."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from shared.events import RemediationStatus, utcnow
from tests.integration.incident_history.running import history_env, history_process, publish
from tests.support.incident_story import blocked_incident, manual_request, whole_incident
from tests.support.processes import StackProcess, api_key, service
from tests.support.waiting import wait_for


@dataclass(frozen=True)
class Through:
    gateway: str
    keys: dict[str, str]
    incident_id: str

    def get(self, path: str, role: str | None, **params: str) -> httpx.Response:
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.get(f"{self.gateway}{path}", params=params, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def through(module_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Through]:
    tmp: Path = tmp_path_factory.mktemp("through")
    env = history_env(module_redis, f"sqlite+aiosqlite:///{tmp / 'history.db'}")
    env["SCOPS_HISTORY_URL"] = f"http://127.0.0.1:{env['SCOPS_HISTORY_PORT']}"
    history = history_process(env, tmp)
    gateway = service("gateway", env, tmp)
    remediator = service("remediator", env, tmp)  # ChatOps' summary reads its decisions
    processes: list[StackProcess] = [history.start(), gateway.start(), remediator.start()]
    started = utcnow() - timedelta(hours=1)
    events = whole_incident("web-9", "cpu_utilization", started) + blocked_incident(
        "db-9", "disk_used", started + timedelta(minutes=1)
    )
    # a manual request with no anomaly behind it, done (a dry run)
    manual = manual_request(
        "web-asg",
        started + timedelta(minutes=2),
        [RemediationStatus.PENDING_APPROVAL, RemediationStatus.DRY_RUN],
    )
    try:
        for process in processes:
            process.wait_ready(90)
        publish(module_redis, [*events, *manual])
        keys = {
            role: api_key(module_redis, role, f"history-{role}") for role in ("viewer", "ingest")
        }
        run = Through(str(gateway.url), keys, str(events[0].event_id))
        wait_for(
            history,
            lambda: len(run.get("/incidents", "viewer").json().get("items", [])) == 3,
            30,
            "both incidents and the manual request through the gateway",
        )
        yield run
    finally:
        for process in processes:
            process.stop()


def test_a_viewer_reads_incidents_and_their_timelines(through: Through) -> None:
    listed = through.get("/incidents", "viewer", outcome="blocked").json()
    assert [i["resource_id"] for i in listed["items"]] == ["db-9"]
    incident = through.get(f"/incidents/{through.incident_id}", "viewer")
    assert incident.status_code == 200
    assert incident.json()["timeline"][0]["kind"] == "first_out_of_range"
    audit = through.get("/audit", "viewer", resource_id="web-9").json()
    assert {r["status"] for r in audit["items"]} == {
        "pending_approval",
        "approved",
        "succeeded",
        "verified",
    }


def test_without_a_key_or_with_an_ingest_key_nothing_is_read(through: Through) -> None:
    assert through.get("/incidents", None).status_code == 401
    assert through.get(f"/incidents/{through.incident_id}", "ingest").status_code == 403
    assert through.get("/export/audit", "ingest", format="csv").status_code == 403


def test_an_export_arrives_as_the_file_the_history_made(through: Through) -> None:
    reply = through.get("/export/incidents", "viewer", format="csv")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert 'filename="incidents.csv"' in reply.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert sorted((r["resource_id"], r["kind"]) for r in rows) == [
        ("db-9", "anomaly"),
        ("web-9", "anomaly"),
        ("web-asg", "manual"),
    ]


def test_the_historys_problems_are_passed_on(through: Through) -> None:
    reply = through.get("/incidents", "viewer", cursor="not-a-cursor")
    assert reply.status_code == 422
    assert reply.json()["detail"].startswith("cursor: ")
    missing = through.get("/incidents/00000000-0000-4000-8000-000000000000", "viewer")
    assert missing.status_code == 404


def test_a_finished_manual_request_is_no_open_incident(through: Through) -> None:
    listed = through.get("/incidents", "viewer", status="open").json()["items"]
    assert [i["resource_id"] for i in listed] == []  # both episodes resolved, the request done
    manual = through.get("/incidents", "viewer", resource_id="web-asg").json()["items"]
    assert [(i["kind"], i["status"], i["action_outcome"]) for i in manual] == [
        ("manual", "closed", "dry_run")
    ]
    timeline = through.get(f"/incidents/{manual[0]['id']}", "viewer").json()["timeline"]
    assert [e["status"] for e in timeline] == ["pending_approval", "dry_run"]
    anomalies = through.get("/incidents", "viewer", kind="anomaly").json()["items"]
    assert anomalies and {i["kind"] for i in anomalies} == {"anomaly"}
    requests = through.get("/incidents", "viewer", kind="manual").json()["items"]
    assert [i["id"] for i in requests] == [manual[0]["id"]]


def test_the_chatops_summary_counts_only_anomaly_incidents(through: Through) -> None:
    reply = httpx.post(
        f"{through.gateway}/chatops/query",
        json={"query": "what happened overnight"},
        headers={"X-API-Key": through.keys["viewer"]},
        timeout=20,
    )
    assert reply.status_code == 200, reply.text
    assert "2 incidents" in reply.json()["text"] and "0 still open" in reply.json()["text"]

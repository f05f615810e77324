"""The remediator API on a real Redis: token on mutating endpoints, problem documents, dry
evaluation, manual requests refused and recorded, approvals, maintenance windows, rules reload
with located errors, the audit log and the Prometheus counters."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI
from pydantic import SecretStr

from services.notifier.core.render.links import Links
from services.notifier.core.render.slack_remediation import approval_message
from services.remediator.app import create_app
from services.remediator.config import RemediatorSettings
from services.remediator.core.action_requests import ActionRequest
from services.remediator.errors import RulesFileError
from services.remediator.wiring import Remediator
from shared.events import AnomalyEvent, RemediationStatus, Severity, utcnow
from shared.tasks import REMEDIATION_QUEUE
from tests.support.remediator_fixtures import CATALOGUE, AnomalyFactory

TOKEN = "test-token"
AUTH = {"X-Internal-Token": TOKEN}
RULES = """\
version: 1
policy: {deny_targets: ["db-*"]}
rules:
  - name: cpu
    match: {metric: cpu_*, severity_at_least: high}
    actions: [{action: restart_service, params: {service: nginx}}]
  - name: cpu-lasting
    match: {metric: load_*}
    for: 5m
    actions: [{action: cleanup_disk}]
  - name: idle
    match: {metric: idle_*, severity_at_least: low}
    actions: [{action: scale_in, target: {auto_scaling_group: pool}}]
"""


@dataclass
class Api:
    http: httpx.AsyncClient
    app: FastAPI
    rules: Path
    redis: redis.Redis

    @property
    def remediator(self) -> Remediator:
        remediator: Remediator = self.app.state.remediator
        return remediator

    def queued(self) -> list[dict[str, Any]]:
        return [json.loads(m) for m in self.redis.lrange(REMEDIATION_QUEUE, 0, -1)]


def settings(redis_url: str, rules: Path, **changes: Any) -> RemediatorSettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "rules_path": rules,
        "script_catalogue_path": CATALOGUE,
        "internal_token": SecretStr(TOKEN),
        "env": "test",
        "consumer_block_ms": 50,
        "sweep_interval_s": 0.2,
        "log_json": False,
    }
    values.update(changes)
    return RemediatorSettings.model_validate(values)


@pytest.fixture
async def api(redis_url: str, sync_redis: redis.Redis, tmp_path: Path) -> AsyncIterator[Api]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    app = create_app(settings(redis_url, rules))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://remediator") as http,
    ):
        yield Api(http, app, rules, sync_redis)


async def test_mutating_endpoints_need_the_internal_token(api: Api) -> None:
    for method, path in [
        ("post", "/remediation/execute"),
        ("post", "/remediation/test"),
        ("post", "/rules/reload"),
        ("post", "/remediation/breaker/reset"),
        ("post", "/remediation/approvals/" + "0" * 32 + "/approve"),
        ("post", "/remediation/maintenance"),
    ]:
        reply = await api.http.request(method, path, json={}, headers={"X-Internal-Token": "wrong"})
        assert reply.status_code == 401, path
        assert reply.headers["content-type"] == "application/problem+json"


async def test_status_reports_rules_and_safety(api: Api) -> None:
    status = (await api.http.get("/remediation/status")).json()
    assert status["executor"] == "dry-run" and status["dry_run"] is True
    assert status["rules"]["count"] == 3
    assert status["safety"]["rate_limit_per_hour"] == 10
    assert status["safety"]["breaker"] == {"open": False}
    assert status["pending_approvals"] == 0
    assert status["auto_approval"] == {
        "parameter": "/smartcloudops/test/approvals/auto",
        "enabled": False,
    }


async def evaluate(api: Api, **anomaly: Any) -> dict[str, Any]:
    body = {"resource_id": "web-1", "metric": "cpu_utilization", "severity": "critical"}
    body.update(anomaly)
    reply = await api.http.post("/remediation/evaluate", json=body)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def test_an_anomaly_as_the_system_lists_it_is_evaluated(api: Api) -> None:
    """ "``POST /remediation/evaluate`` with a past anomaly": the one ``GET /anomalies`` gave,
    pasted whole (its id, type, times, detectors, explanation...), not only the fields the
    evaluation reads; a field no anomaly has is still refused, by name."""
    event = AnomalyEvent(
        event_id=AnomalyEvent.derive_id("web-1", "cpu_utilization", utcnow()),
        correlation_id="c0ffee",
        resource_id="web-1",
        metric="cpu_utilization",
        value=97.5,
        observed_at=utcnow(),
        score=1.0,
        severity=Severity.CRITICAL,
        expected_low=28.1,
        expected_high=42.2,
        detectors=["out_of_range"],
        model_version="streaming-v3",
        explanation="cpu_utilization=97.5 is above the expected 28.1 to 42.2",
        labels={"service": "nginx"},
    )
    listed = event.model_dump(mode="json")
    reply = await api.http.post("/remediation/evaluate", json=listed)
    assert reply.status_code == 200, reply.text
    assert reply.json()["rule"] == "cpu"
    reply = await api.http.post("/remediation/evaluate", json={**listed, "colour": "red"})
    assert reply.status_code == 422, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == ["colour"]
    resolved = {**listed, "type": "anomaly.resolved.v1"}
    reply = await api.http.post("/remediation/evaluate", json=resolved)
    assert reply.status_code == 422, reply.text
    assert [e["field"] for e in reply.json()["errors"]] == ["type"]


async def test_evaluation_says_what_would_happen_and_what_would_stop_it(api: Api) -> None:
    dry = await evaluate(api)
    assert dry["outcome"] == "dry_run" and dry["rule"] == "cpu"
    assert "expected" not in dry["reason"]  # no band given: none is claimed
    banded = await evaluate(api, expected_low=28.1, expected_high=42.2)
    assert "expected 28.1 to 42.2" in banded["reason"]
    assert dry["description"] == "restart nginx on instances tagged Name=web-1"
    api.remediator.safety.set_dry_run(False)
    assert (await evaluate(api))["outcome"] == "would_run"
    assert (await evaluate(api, metric="load_avg"))["outcome"] == "would_wait"
    assert (await evaluate(api, metric="load_avg", lasted_s=400))["outcome"] == "would_run"
    assert (await evaluate(api, metric="idle_ratio", severity="low"))["outcome"] == "needs_approval"
    denied = await evaluate(api, resource_id="db-1")
    assert denied["outcome"] == "blocked"
    assert denied["safety"]["blocked_by"] == "deny_list"
    low = await evaluate(api, severity="low")
    assert low["outcome"] == "no_action" and "below high" in low["reason"]
    window = await api.http.post(
        "/remediation/maintenance",
        json={"target_pattern": "web-*", "duration": "1h", "reason": "upgrade", "by": "ana"},
        headers=AUTH,
    )
    assert window.status_code == 201, window.text
    blocked = await evaluate(api)
    assert blocked["safety"]["blocked_by"] == "maintenance"
    assert window.json()["id"] in blocked["safety"]["detail"]
    removed = await api.http.delete(
        f"/remediation/maintenance/{window.json()['id']}?by=ana", headers=AUTH
    )
    assert removed.status_code == 200
    again = await api.http.delete(f"/remediation/maintenance/{window.json()['id']}", headers=AUTH)
    assert again.status_code == 404
    assert (await api.http.get("/remediation/maintenance")).json() == []
    kinds = [e["kind"] for e in (await api.http.get("/remediation/admin-log")).json()]
    assert kinds == ["maintenance_removed", "maintenance_added"]


async def audit(api: Api, **filters: str) -> list[dict[str, Any]]:
    reply = await api.http.get("/remediation/actions", params=filters)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


async def test_manual_requests_refused_at_once_are_recorded(api: Api) -> None:
    unknown = await api.http.post(
        "/remediation/execute",
        json={
            "action": "reboot_everything",
            "target": {"instance_ids": ["i-0123456789abcdef0"]},
            "reason": "why not",
            "by": "ana",
        },
        headers=AUTH,
    )
    assert unknown.status_code == 422
    assert unknown.json()["title"] == "Unknown action"
    assert "restart_service" in unknown.json()["known_actions"]
    denied = await api.http.post(
        "/remediation/execute",
        json={
            "action": "restart_service",
            "target": {"tags": {"Name": "db-1"}},
            "params": {"service": "postgres"},
            "reason": "slow",
            "by": "ben",
        },
        headers=AUTH,
    )
    assert denied.status_code == 403
    assert denied.json()["blocked_by"] == "deny_list"
    recorded = {
        (r["action"], r["blocked_by"], r["decided_by"]) for r in await audit(api, status="blocked")
    }
    assert recorded == {
        ("reboot_everything", "unknown_action", "ana"),
        ("restart_service", "deny_list", "ben"),
    }
    wrong_target = await api.http.post(
        "/remediation/execute",
        json={
            "action": "scale_out",
            "target": {"instance_ids": ["i-0123456789abcdef0"]},
            "reason": "load",
            "by": "ana",
        },
        headers=AUTH,
    )
    assert wrong_target.status_code == 403
    assert wrong_target.json()["blocked_by"] == "no_target"


@pytest.mark.parametrize(
    "target",
    [{}, {"instance_ids": ["i-0123456789abcdef0"], "auto_scaling_group": "web-asg"}],
    ids=["none", "two"],
)
async def test_a_target_given_in_no_form_or_several_is_a_malformed_body_not_a_refusal(
    api: Api, target: dict[str, object]
) -> None:
    before = len(await audit(api))
    reply = await api.http.post(
        "/remediation/execute",
        json={
            "action": "restart_service",
            "target": target,
            "params": {"service": "nginx"},
            "reason": "r",
            "by": "ana",
        },
        headers=AUTH,
    )
    assert reply.status_code == 422, reply.text
    (error,) = reply.json()["errors"]
    assert error["field"] == "target"
    assert "give exactly one of instance_ids, tags, auto_scaling_group" in error["reason"]
    assert len(await audit(api)) == before  # a malformed body is not a refusal to record


async def test_an_accepted_manual_request_is_queued_for_a_worker(api: Api) -> None:
    reply = await api.http.post(
        "/remediation/execute",
        json={
            "action": "cleanup_disk",
            "target": {"instance_ids": ["i-0123456789abcdef0"]},
            "params": {"older_than_days": 2},
            "reason": "disk at 97%",
            "by": "ana",
        },
        headers=AUTH,
    )
    assert reply.status_code == 202, reply.text
    (message,) = api.queued()
    assert message["headers"]["task"] == "remediator.execute_request"
    answer = reply.json()
    assert answer["detail"] == (
        "queued: cleanup_disk on i-0123456789abcdef0: dry run: nothing will be changed"
    )
    assert answer["next"]["next"] == "dry_run"


async def test_a_manual_high_risk_request_waits_for_someone_other_than_the_requester(
    api: Api,
) -> None:
    """ChatOps, Slack and the API ask through here: a high-risk action does not run on one
    operator's word, and the answer says so."""
    api.remediator.safety.set_dry_run(False)
    reply = await api.http.post(
        "/remediation/execute",
        json={
            "action": "scale_in",
            "target": {"auto_scaling_group": "web-asg"},
            "params": {"by": 1},
            "reason": "too many instances",
            "by": "ana",
        },
        headers=AUTH,
    )
    assert reply.status_code == 202, reply.text
    preview = reply.json()["next"]
    assert preview["next"] == "approval" and preview["approvals_required"] == 1
    assert "waits for one person other than the requester" in reply.json()["detail"]
    (message,) = api.queued()
    args = json.loads(base64.b64decode(message["body"]))
    request = ActionRequest.model_validate(args[1]["request"])
    record = api.remediator.workflow.execute_request(request)
    assert record is not None and record.status == RemediationStatus.PENDING_APPROVAL
    assert record.approval_id == preview["approval_id"]
    assert api.remediator.safety.counters()["actions_this_hour"] == 0
    # The approval request (the "Why" of its Slack message) says what the API answer says.
    assert "waits for one person other than the requester to approve" in record.reason
    slack = json.dumps(approval_message(record, Links()))
    assert "waits for one person other than the requester to approve" in slack


async def test_approvals_through_the_api(api: Api, anomaly: AnomalyFactory) -> None:
    workflow = api.remediator.workflow
    api.remediator.safety.set_dry_run(False)
    pending = workflow.handle(anomaly(metric="idle_ratio", severity=Severity.LOW))
    assert pending is not None and pending.approval_id
    listed = (await api.http.get("/remediation/approvals")).json()
    assert [a["id"] for a in listed] == [pending.approval_id]
    path = f"/remediation/approvals/{pending.approval_id}"
    # Nobody named as the decider: refused naming the header, which the document requires.
    for unnamed in ({}, {"X-Actor-Person": "  "}):
        refused = await api.http.post(
            f"{path}/approve", json={"by": "ana"}, headers={**AUTH, **unnamed}
        )
        assert refused.status_code in (400, 422), refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "X-Actor-Person" in refused.text
    operation = (await api.http.get("/openapi.json")).json()["paths"][
        "/remediation/approvals/{approval_id}/approve"
    ]["post"]
    (header,) = [p for p in operation["parameters"] if p["name"] == "X-Actor-Person"]
    assert header["in"] == "header" and header["required"] is True
    approved = await api.http.post(
        f"{path}/approve",
        json={"by": "ana", "comment": "ok"},
        headers={**AUTH, "X-Actor-Person": "person:ana"},
    )
    assert approved.status_code == 202, approved.text
    assert approved.json()["complete"] and approved.json()["approval"]["decided_by"] == "ana"
    assert api.queued()[0]["headers"]["task"] == "remediator.execute_request"
    late = await api.http.post(
        f"{path}/reject", json={"by": "ben"}, headers={**AUTH, "X-Actor-Person": "person:ben"}
    )
    assert late.status_code == 409
    assert (await api.http.get("/remediation/approvals/" + "f" * 32)).status_code == 404
    statuses = [r["status"] for r in await audit(api, anomaly_id=str(pending.anomaly_id))]
    assert statuses == ["approved", "pending_approval"]


async def test_an_expired_approval_is_refused_and_the_sweep_records_expiries(
    api: Api, anomaly: AnomalyFactory
) -> None:
    workflow = api.remediator.workflow
    api.remediator.safety.set_dry_run(False)
    first = workflow.handle(anomaly(resource_id="r1", metric="idle_a", severity=Severity.LOW))
    second = workflow.handle(anomaly(resource_id="r2", metric="idle_b", severity=Severity.LOW))
    assert first is not None and second is not None
    assert first.approval_id and second.approval_id
    for approval_id in (first.approval_id, second.approval_id):
        api.redis.hset(f"scops:{{remediation}}:approval:{approval_id}", "expires_at_ms", 1)
        api.redis.zadd("scops:{remediation}:approvals:pending", {approval_id: 1})
    gone = await api.http.post(
        f"/remediation/approvals/{first.approval_id}/approve",
        json={"by": "ana"},
        headers={**AUTH, "X-Actor-Person": "person:ana"},
    )
    assert gone.status_code == 410
    assert "expired at" in gone.json()["detail"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(await audit(api, status="expired")) < 2:
        await asyncio.sleep(0.1)
    expired = await audit(api, status="expired")
    assert sorted(r["approval_id"] for r in expired) == sorted(
        [first.approval_id, second.approval_id]
    )
    assert api.queued() == []


async def test_a_bad_rules_file_is_refused_with_line_and_reason_and_changes_nothing(
    api: Api,
) -> None:
    before = (await api.http.get("/rules")).json()["version"]
    api.rules.write_text(RULES.replace("restart_service", "restart_servce"))
    reply = await api.http.post("/rules/reload", json={"by": "ana"}, headers=AUTH)
    assert reply.status_code == 422
    problem = reply.json()
    assert problem["title"] == "Rules file refused"
    assert problem["errors"][0] == {
        "field": "rules[0].actions[0].action",
        "line": "6",
        "reason": problem["errors"][0]["reason"],
    }
    assert "unknown action 'restart_servce'" in problem["errors"][0]["reason"]
    assert "the rules in force stay in force" in problem["detail"]
    assert (await api.http.get("/rules")).json()["version"] == before
    assert (await evaluate(api))["rule"] == "cpu"
    api.rules.write_text(RULES.replace("service: nginx", "service: haproxy"))
    assert (await api.http.post("/rules/reload", headers=AUTH)).status_code == 200
    assert (await api.http.get("/rules")).json()["version"] != before
    assert "haproxy" in (await evaluate(api))["description"]
    kinds = [e["kind"] for e in (await api.http.get("/remediation/admin-log")).json()]
    assert kinds == ["rules_reloaded", "rules_refused"]


async def test_the_service_refuses_to_start_on_a_bad_rules_file(
    redis_url: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("for: 5m", "for: soon"))
    app = create_app(settings(redis_url, rules))
    with pytest.raises(RulesFileError) as info:
        async with app.router.lifespan_context(app):
            pass
    assert "line 9: rules[1].for: 'soon' is not a duration" in str(info.value)


async def test_records_are_counted_for_prometheus(api: Api, anomaly: AnomalyFactory) -> None:
    workflow = api.remediator.workflow
    workflow.handle(anomaly(resource_id="db-7"))
    workflow.handle(anomaly(resource_id="web-7"))
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = (await api.http.get("/metrics")).text
        if 'remediation_blocked_total{rule="deny_list"}' in text and "dry_run" in text:
            break
        await asyncio.sleep(0.1)
    assert 'remediation_blocked_total{rule="deny_list"}' in text
    assert 'remediation_actions_total{action="restart_service",status="dry_run"}' in text
    assert "remediation_pending_approvals" in text


async def test_breaker_reset_dry_run_switch_catalog_and_self_test(api: Api) -> None:
    assert (
        await api.http.post("/remediation/breaker/reset", json={"by": "ana"}, headers=AUTH)
    ).json() == {
        "was_open": False,
        "breaker": {"open": False},
    }
    switched = await api.http.put(
        "/remediation/dry-run", json={"enabled": False, "by": "ana"}, headers=AUTH
    )
    assert switched.json() == {"dry_run": False}
    catalog = {a["name"]: a for a in (await api.http.get("/remediation/catalog")).json()}
    assert set(catalog) == {
        "restart_service",
        "cleanup_disk",
        "scale_out",
        "scale_in",
        "enhance_monitoring",
        "optimize_performance",
    }
    assert catalog["scale_in"]["risk"] == "high"
    test = await api.http.post("/remediation/test", json={"resource_id": "web-3"}, headers=AUTH)
    assert test.status_code == 202
    (message,) = api.queued()
    assert message["headers"]["task"] == "remediator.handle_anomaly"
    assert RemediationStatus.DRY_RUN.value == "dry_run"


async def test_the_admin_log_says_when_each_change_was_made(api: Api) -> None:
    """ "Who changed what" is read after the fact: each entry says when, not only a stream id."""
    before = utcnow()
    reply = await api.http.post("/rules/reload", json={"by": "ana"}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    (entry,) = (await api.http.get("/remediation/admin-log", params={"count": 1})).json()
    assert entry["kind"] == "rules_reloaded" and entry["by"] == "ana"
    at = datetime.fromisoformat(entry["at"])
    assert at.tzinfo is not None
    assert abs((at - before).total_seconds()) < 60

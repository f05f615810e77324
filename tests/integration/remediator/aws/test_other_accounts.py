"""Acting in the AWS account an anomaly came from (moto's server keeps each account apart: an
instance made in one is not seen from another): the account's role is assumed with STS and
every call for the request goes there; an account nobody mapped is refused and recorded, and
nothing is sent anywhere."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis

from services.remediator.app import create_app
from services.remediator.aws.session import AwsApi
from services.remediator.core.accounts import AccountRoles
from services.remediator.core.action_requests import ActionRequest
from services.remediator.handling.manual import ManualRequest, Preview, prepare
from shared.events import RemediationStatus
from tests.integration.remediator.api.test_api import AUTH, settings
from tests.integration.remediator.conftest import REGION, Harness, HarnessFactory, aws_config
from tests.support.aws_fleet import groups, instances, sent_commands
from tests.support.records import remediation_records
from tests.support.remediator_fixtures import AnomalyFactory

WATCHED = "111122223333"
ROLE = f"arn:aws:iam::{WATCHED}:role/smartcloudops-test-remediator-actor"
UNMAPPED = "444455556666"
THERE = "eu-west-1"
RESTART = """\
version: 1
policy: {verify: off}
rules:
  - name: cpu
    match: {metric: cpu_*, severity_at_least: high}
    actions: [{action: restart_service, params: {service: nginx}}]
"""


def watched_harness(harness: HarnessFactory, aws_url: str) -> Harness:
    return harness(RESTART, aws_url=aws_url, aws_account_roles={WATCHED: ROLE})


def as_watched(aws_url: str) -> AwsApi:
    """The watched account, as the test sees it (its own assumed session)."""
    home = AwsApi(replace(aws_config(aws_url), accounts=AccountRoles({WATCHED: ROLE})))
    return home.for_account(WATCHED, THERE)


def remediator_aws(h: Harness) -> AwsApi:
    aws = h.remediator.runner.executor.aws  # type: ignore[attr-defined]
    assert isinstance(aws, AwsApi)
    return aws


def test_an_anomaly_from_another_account_is_acted_on_there_through_its_role(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    there = as_watched(aws_url)
    (instance,) = instances(there, tags={"Name": "web-1"})
    h = watched_harness(harness, aws_url)
    event = anomaly(
        resource_id=instance, labels={"aws_account": WATCHED, "aws_region": THERE, "app": "web"}
    )
    record = h.workflow.handle(event)
    assert record is not None and record.status == RemediationStatus.RUNNING, record
    (command,) = sent_commands(there)
    assert command["InstanceIds"] == [instance]
    assert sent_commands(aws) == []  # nothing in the remediator's own account
    acting = remediator_aws(h).for_account(WATCHED, THERE)
    assert acting.role is not None and acting.role.assumed == 1
    h.run_polls()
    (*_, last) = h.records()
    assert last.status == RemediationStatus.SUCCEEDED, last
    # Polling used the kept credentials: STS was asked once for the whole action.
    assert acting.role.assumed == 1


def test_an_anomaly_from_an_account_nobody_mapped_is_refused_and_recorded(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    # The instance id exists in the own account: acting there would be the wrong machine.
    (instance,) = instances(aws, tags={"Name": "web-1"})
    h = watched_harness(harness, aws_url)
    event = anomaly(resource_id=instance, labels={"aws_account": UNMAPPED, "aws_region": REGION})
    record = h.workflow.handle(event)
    assert record is not None and record.status == RemediationStatus.BLOCKED
    assert record.blocked_by == "unknown_account"
    assert UNMAPPED in record.reason
    assert [r.blocked_by for r in h.records()] == ["unknown_account"]
    assert sent_commands(aws) == []
    assert sent_commands(as_watched(aws_url)) == []


def test_an_anomaly_naming_a_malformed_region_is_refused(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws)
    h = watched_harness(harness, aws_url)
    event = anomaly(resource_id=instance, labels={"aws_account": WATCHED, "aws_region": "../x"})
    record = h.workflow.handle(event)
    assert record is not None and record.blocked_by == "bad_region"
    assert sent_commands(aws) == []


def ask(h: Harness, target: dict[str, Any]) -> tuple[ActionRequest, Preview]:
    body = ManualRequest.model_validate(
        {
            "action": "cleanup_disk",
            "target": target,
            "params": {"paths": ["/tmp"], "clean_package_cache": False},
            "reason": "disk filling",
            "by": "ana",
        }
    )
    prepared = prepare(h.workflow, body, "cid", requested_by="ana")
    return prepared.request, prepared.preview


def test_a_manual_request_naming_a_mapped_account_runs_there(
    harness: HarnessFactory, aws: AwsApi, aws_url: str
) -> None:
    there = as_watched(aws_url)
    (instance,) = instances(there)
    h = watched_harness(harness, aws_url)
    request, preview = ask(
        h, {"instance_ids": [instance], "aws_account": WATCHED, "aws_region": THERE}
    )
    assert (request.aws_account, request.aws_region, preview.next) == (WATCHED, THERE, "run")
    # What a worker receives is the stored request: its account travels with it.
    stored = ActionRequest.model_validate_json(request.model_dump_json())
    record = h.workflow.execute_request(stored)
    assert record is not None and record.status == RemediationStatus.RUNNING, record
    assert len(sent_commands(there)) == 1
    assert sent_commands(aws) == []


async def test_a_manual_request_naming_an_unmapped_account_is_refused_with_403_and_recorded(
    redis_url: str, sync_redis: redis.Redis, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RESTART)
    app = create_app(settings(redis_url, rules, aws_account_roles={WATCHED: ROLE}))
    body = {
        "action": "restart_service",
        "params": {"service": "nginx"},
        "reason": "stuck",
        "by": "ana",
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http,
    ):
        target = {"instance_ids": ["i-0123456789abcdef0"], "aws_account": UNMAPPED}
        malformed = await http.post(
            "/remediation/execute",
            json=body | {"target": target | {"aws_account": "1234", "aws_region": "x"}},
            headers=AUTH,
        )
        refused = await http.post(
            "/remediation/execute", json=body | {"target": target}, headers=AUTH
        )
        accepted = await http.post(
            "/remediation/execute",
            json=body | {"target": target | {"aws_account": WATCHED}},
            headers=AUTH,
        )
    assert refused.status_code == 403, refused.text
    assert refused.json()["blocked_by"] == "unknown_account"
    assert UNMAPPED in refused.json()["detail"]
    assert malformed.status_code == 422
    assert accepted.status_code == 202, accepted.text
    recorded = [r for r in remediation_records(sync_redis) if r.blocked_by]
    assert [(r.blocked_by, r.decided_by) for r in recorded] == [("unknown_account", "ana")]


def test_assumed_credentials_are_kept_until_five_minutes_before_they_expire(
    aws_url: str,
) -> None:
    now = [datetime.now(UTC)]
    home = AwsApi(
        replace(aws_config(aws_url), accounts=AccountRoles({WATCHED: ROLE})),
        clock=lambda: now[0],
    )
    there = home.for_account(WATCHED, THERE)
    assert there.role is not None

    async def who() -> str:
        async with there.client("sts") as sts:
            return str((await sts.get_caller_identity())["Account"])

    assert asyncio.run(who()) == WATCHED
    assert home.for_account(WATCHED) is not there  # another region, the same role
    assert home.for_account(WATCHED).role is there.role
    now[0] += timedelta(minutes=54)  # moto's credentials last the hour asked for
    asyncio.run(who())
    assert there.role.assumed == 1
    now[0] += timedelta(minutes=2)  # within 5 minutes of expiry: renewed
    asyncio.run(who())
    assert there.role.assumed == 2


SCALE_OUT = """\
version: 1
policy: {verify: off}
rules:
  - name: busy
    match: {metric: cpu_*, severity_at_least: high}
    cooldown: 0s
    blast_radius: {max_targets: 1, window: 1h}
    actions: [{action: scale_out, target: {auto_scaling_group: "{label:asg}"}}]
"""


def test_groups_of_one_name_in_two_accounts_are_two_targets_for_the_blast_radius(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    """A group called web in the own account and one called web in a watched account are two
    groups: scaling both is two targets, not one acted on twice."""
    home = AwsApi(replace(aws_config(aws_url), accounts=AccountRoles({WATCHED: ROLE})))
    groups(aws, {"web": 2})
    groups(home.for_account(WATCHED), {"web": 2})
    h = harness(SCALE_OUT, aws_url=aws_url, aws_account_roles={WATCHED: ROLE})
    at = datetime.now(UTC) - timedelta(minutes=3)
    first = h.workflow.handle(anomaly(resource_id="web", labels={"asg": "web"}, observed_at=at))
    assert first is not None and first.status == RemediationStatus.SUCCEEDED, first
    second = h.workflow.handle(
        anomaly(
            resource_id="web",
            labels={"asg": "web", "aws_account": WATCHED},
            observed_at=at + timedelta(minutes=1),
        )
    )
    assert second is not None and second.status == RemediationStatus.BLOCKED, second
    assert second.blocked_by == "blast_radius"
    # The same group asked for again is the same target: not counted twice.
    again = h.workflow.handle(
        anomaly(resource_id="web", labels={"asg": "web"}, observed_at=at + timedelta(minutes=2))
    )
    assert again is not None and again.status == RemediationStatus.SUCCEEDED, again

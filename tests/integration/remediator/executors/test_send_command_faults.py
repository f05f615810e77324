"""SSM SendCommand has no idempotency token: a send whose answer was lost is looked up by its
run's comment and adopted, never sent a second time; a refused send fails at once; a send that
certainly did not land is sent once more. Faults are injected by a real HTTP proxy in front of
the local AWS server, so the real aioboto3 client sees real timeouts and errors."""

from __future__ import annotations

import dataclasses
from typing import Any

from services.remediator.aws.session import AwsApi
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.targets import Target
from services.remediator.executors.aws import AwsExecutor
from services.remediator.executors.base import Finished, Job, Started
from services.remediator.stores import redis_keys
from shared.events import RemediationStatus
from tests.integration.remediator.conftest import HarnessFactory, aws_config
from tests.support.aws_faults import Mode, aws_faults
from tests.support.aws_fleet import instances, sent_commands
from tests.support.remediator_fixtures import AnomalyFactory

RUN_ID = "0" * 31 + "7"
RESTART = """\
version: 1
rules:
  - name: cpu
    match: {metric: cpu_*}
    actions: [{action: restart_service, params: {service: app}}]
"""


def through(proxy_url: str) -> AwsApi:
    """A client of the proxy that gives up reading an answer after 1 s."""
    config = dataclasses.replace(aws_config(proxy_url), read_timeout_s=1.0, confirm_delay_s=0.2)
    return AwsApi(config)


def restart_job(registry: ActionRegistry, instance_ids: list[str]) -> Job:
    definition = registry["restart_service"]
    params = definition.parse({"service": "app"})
    return Job(definition, params, Target.for_instances(*instance_ids), RUN_ID)


def start_through(aws: AwsApi, aws_url: str, registry: ActionRegistry, mode: Mode) -> Any:
    ids = instances(aws)
    with aws_faults(aws_url, mode, stall_s=3.0) as faults:
        outcome = AwsExecutor(through(faults.url)).start(restart_job(registry, ids))
    return outcome, faults


def test_a_send_whose_answer_was_lost_is_adopted_not_sent_twice(
    aws: AwsApi, aws_url: str, registry: ActionRegistry
) -> None:
    outcome, faults = start_through(aws, aws_url, registry, "stall")
    assert faults.sends_seen == 1  # the read timeout was not retried
    (command,) = sent_commands(aws)
    assert command["Comment"] == f"scops run {RUN_ID}"
    assert isinstance(outcome, Started)
    assert outcome.command_id == command["CommandId"]
    assert "adopted SSM command" in outcome.summary and "not sent again" in outcome.summary


def test_a_refused_send_fails_at_once(aws: AwsApi, aws_url: str, registry: ActionRegistry) -> None:
    outcome, faults = start_through(aws, aws_url, registry, "refuse")
    assert isinstance(outcome, Finished)
    assert outcome.status == RemediationStatus.FAILED
    assert outcome.error_code == "InvalidInstanceId"
    assert faults.sends_seen == 1
    assert sent_commands(aws) == []


def test_a_send_that_certainly_did_not_land_is_sent_once_more(
    aws: AwsApi, aws_url: str, registry: ActionRegistry
) -> None:
    outcome, faults = start_through(aws, aws_url, registry, "fail_once")
    assert faults.sends_seen == 2
    (command,) = sent_commands(aws)
    assert isinstance(outcome, Started) and outcome.command_id == command["CommandId"]
    assert "adopted" not in outcome.summary


def test_a_send_that_never_gets_an_answer_fails_after_two_tries_with_a_clear_record(
    aws: AwsApi, aws_url: str, registry: ActionRegistry
) -> None:
    ids = instances(aws)
    with aws_faults(aws_url, "hang") as faults:
        api = through(faults.url)
        outcome = AwsExecutor(api).start(restart_job(registry, ids))
    assert faults.sends_seen == 2  # the first, and once more after it was certainly absent
    assert isinstance(outcome, Finished) and outcome.status == RemediationStatus.FAILED
    assert "no command of this run exists, so it was not sent" in outcome.summary
    assert sent_commands(aws) == []


def test_a_run_whose_send_timed_out_adopts_the_command_and_records_it_once(
    harness: HarnessFactory, anomaly: AnomalyFactory, aws: AwsApi, aws_url: str
) -> None:
    (instance,) = instances(aws)
    h = harness(RESTART, aws_url=aws_url)
    with aws_faults(aws_url, "stall", stall_s=3.0) as faults:
        h.remediator.runner.executor = AwsExecutor(through(faults.url))
        running = h.workflow.handle(anomaly(resource_id=instance))
    assert running is not None and running.status == RemediationStatus.RUNNING
    (command,) = sent_commands(aws)
    run = h.client.hgetall(redis_keys.run(running.run_id or ""))
    assert run[b"state"] == b"sent"
    assert run[b"command_id"].decode() == command["CommandId"] == running.command_id
    h.remediator.runner.executor = AwsExecutor(aws)
    h.run_polls()
    statuses = [r.status for r in h.records() if not r.shadow]
    assert statuses == [RemediationStatus.RUNNING, RemediationStatus.SUCCEEDED]
    assert len(sent_commands(aws)) == 1

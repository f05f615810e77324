"""Actions and executors against a local AWS API server through the real aioboto3 client:
SSM commands to instance ids and to tags, invocation polling, a lost command found again,
Parameter Store (SecureString), Auto Scaling within the group's bounds, and AWS errors."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from scops.local_redis import free_port
from services.remediator.aws.auto_approval import AutoApprovalSwitch
from services.remediator.aws.errors import AwsCallError
from services.remediator.aws.session import AwsApi, AwsConfig
from services.remediator.core.actions.registry import ActionRegistry
from services.remediator.core.targets import Target
from services.remediator.executors.aws import AwsExecutor
from services.remediator.executors.base import Finished, Job, Started
from shared.events import RemediationStatus, utcnow
from tests.integration.remediator.conftest import AMI, aws_config
from tests.support.aws_fleet import instances, sent_commands


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def job(registry: ActionRegistry, action: str, target: Target, **params: Any) -> Job:
    definition = registry[action]
    return Job(definition, definition.parse(params), target, run_id="0" * 31 + "1")


def test_restart_service_to_instance_ids_is_sent_then_polled(
    aws: AwsApi, registry: ActionRegistry
) -> None:
    ids = instances(aws, 2, tags={"Name": "web-1"})
    executor = AwsExecutor(aws)
    restart = job(registry, "restart_service", Target.for_instances(*ids), service="nginx")
    started = executor.start(restart)
    assert isinstance(started, Started)
    assert sorted(started.instance_ids) == sorted(ids)
    finished = executor.poll(restart, started)
    assert finished is not None
    assert finished.status == RemediationStatus.SUCCEEDED
    assert finished.exit_code == 0
    assert "succeeded on 2 instance(s)" in finished.summary
    (command,) = sent_commands(aws)
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert "systemctl restart nginx.service" in command["Parameters"]["commands"]
    assert command["Comment"] == "scops run " + restart.run_id
    assert (command["MaxConcurrency"], command["MaxErrors"]) == ("1", "0")


def test_cleanup_disk_to_tag_targets_reaches_only_the_tagged_instances(
    aws: AwsApi, registry: ActionRegistry
) -> None:
    tagged = instances(aws, 2, tags={"Name": "batch-7"})
    instances(aws, 1, tags={"Name": "other"})
    executor = AwsExecutor(aws)
    cleanup = job(
        registry, "cleanup_disk", Target.for_tags({"Name": "batch-7"}), max_concurrency="50%"
    )
    started = executor.start(cleanup)
    assert isinstance(started, Started)
    assert sorted(started.instance_ids) == sorted(tagged)
    (command,) = sent_commands(aws)
    assert command["Targets"] == [{"Key": "tag:Name", "Values": ["batch-7"]}]
    assert command["MaxConcurrency"] == "50%"
    assert isinstance(executor.poll(cleanup, started), Finished)


def test_an_invocation_that_does_not_exist_yet_means_poll_again(
    aws: AwsApi, registry: ActionRegistry
) -> None:
    ids = instances(aws, 1, tags={"Name": "web-2"})
    executor = AwsExecutor(aws)
    restart = job(registry, "restart_service", Target.for_instances(*ids), service="app")
    started = executor.start(restart)
    assert isinstance(started, Started)
    not_yet = Started(started.command_id, (*started.instance_ids, "i-00000000000000000"), "")
    assert executor.poll(restart, not_yet) is None
    # A command AWS does not know is a permanent error, recorded with its code.
    unknown = executor.poll(
        restart, Started("0" * 8 + "-aaaa-bbbb-cccc-" + "0" * 12, tuple(ids), "")
    )
    assert unknown is not None
    assert unknown.status == RemediationStatus.FAILED
    assert unknown.error_code == "InvalidCommandId"


def test_a_command_sent_by_a_dead_attempt_is_found_by_its_run(
    aws: AwsApi, registry: ActionRegistry
) -> None:
    ids = instances(aws, 1, tags={"Name": "web-3"})
    executor = AwsExecutor(aws)
    restart = job(registry, "restart_service", Target.for_instances(*ids), service="app")
    since = utcnow() - timedelta(minutes=1)
    assert executor.find(restart, since) is None
    started = executor.start(restart)
    assert isinstance(started, Started)
    found = executor.find(restart, since)
    assert found is not None and found.command_id == started.command_id


async def _put_parameter(aws: AwsApi, name: str, value: str) -> None:
    async with aws.client("ssm") as ssm:
        await ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def test_auto_approval_reads_a_secure_string_with_a_short_cache(aws: AwsApi) -> None:
    now = [0.0]
    switch = AutoApprovalSwitch(aws, "test", cache_s=30, clock=lambda: now[0])
    assert switch.name == "/smartcloudops/test/approvals/auto"
    assert not switch.enabled()  # no parameter: ask a human
    run(_put_parameter(aws, switch.name, "true"))
    assert not switch.enabled()  # still cached
    now[0] = 31
    assert switch.enabled()
    run(_put_parameter(aws, switch.name, "no"))
    now[0] = 45
    assert switch.enabled()
    now[0] = 62
    assert not switch.enabled()
    assert not AutoApprovalSwitch(None, "test").enabled()


async def _group(aws: AwsApi, low: int, high: int, desired: int) -> None:
    async with aws.client("autoscaling") as asg:
        await asg.create_launch_configuration(
            LaunchConfigurationName="web-lc", ImageId=AMI, InstanceType="t3.micro"
        )
        await asg.create_auto_scaling_group(
            AutoScalingGroupName="web-asg",
            LaunchConfigurationName="web-lc",
            MinSize=low,
            MaxSize=high,
            DesiredCapacity=desired,
            AvailabilityZones=["us-east-1a"],
        )


async def _desired(aws: AwsApi) -> int:
    async with aws.client("autoscaling") as asg:
        reply = await asg.describe_auto_scaling_groups(AutoScalingGroupNames=["web-asg"])
    return int(reply["AutoScalingGroups"][0]["DesiredCapacity"])


def test_scaling_stays_within_the_groups_bounds(aws: AwsApi, registry: ActionRegistry) -> None:
    run(_group(aws, low=1, high=3, desired=2))
    executor = AwsExecutor(aws)
    group = Target.for_group("web-asg")
    out = executor.start(job(registry, "scale_out", group, by=5))
    assert isinstance(out, Finished) and out.status == RemediationStatus.SUCCEEDED
    assert (
        out.summary
        == "web-asg desired capacity 2 -> 3 (clipped to the group's bounds) (min 1, max 3)"
    )
    assert run(_desired(aws)) == 3
    at_max = executor.start(job(registry, "scale_out", group))
    assert isinstance(at_max, Finished)
    assert (at_max.status, at_max.error_code) == (RemediationStatus.FAILED, "AtCapacityLimit")
    inward = executor.start(job(registry, "scale_in", group, by=1))
    assert isinstance(inward, Finished) and inward.status == RemediationStatus.SUCCEEDED
    assert run(_desired(aws)) == 2
    executor.start(job(registry, "scale_in", group, by=9))
    assert run(_desired(aws)) == 1
    missing = executor.start(job(registry, "scale_out", Target.for_group("nope")))
    assert isinstance(missing, Finished) and missing.error_code == "GroupNotFound"


def test_transient_errors_are_retried_then_fail_with_their_code() -> None:
    nowhere = AwsApi(aws_config(f"http://127.0.0.1:{free_port()}"))

    async def call() -> None:
        async with nowhere.client("ssm") as ssm:
            await nowhere.call(ssm, "get_parameter", Name="/x")

    with pytest.raises(AwsCallError) as info:
        run(call())
    assert info.value.transient
    assert info.value.code == "EndpointConnectionError"


def test_the_config_never_shows_the_secret() -> None:
    config = AwsConfig(region="eu-west-1", access_key_id="AKIA", secret_access_key="s3cret")
    assert "s3cret" not in repr(config) and "AKIA" not in repr(config)

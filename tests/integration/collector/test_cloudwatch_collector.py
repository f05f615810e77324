"""The CloudWatch collector against the local AWS API (moto's server, real aioboto3) and a
real Redis: opted-in resources are found, each datapoint reaches the metrics stream once
(across restarts, late ones too), and a spike in CloudWatch history becomes an anomaly."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis

from services.collector.config import CollectorSettings
from services.collector.publisher import Published
from services.collector.wiring import build
from shared.cloudwatch.access import AwsAccess, AwsApi
from shared.cloudwatch.fetch import fetch_series
from shared.cloudwatch.queries import CloudWatchQuery
from shared.streams import ANOMALIES, all_metric_streams
from tests.support.moto_server import CREDENTIALS, REGION, moto_server, reset
from tests.support.processes import service, stack_env

AMI = "ami-12c6146b"
SHARDS = 2
OPT_IN = "SmartCloudOpsRemediation"


@pytest.fixture(scope="module")
def moto() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto: str) -> AwsApi:
    reset(moto)
    return AwsApi(
        AwsAccess(
            REGION,
            moto,
            CREDENTIALS["aws_access_key_id"],
            CREDENTIALS["aws_secret_access_key"],
            attempts=2,
            max_wait_s=0.2,
        )
    )


def settings(redis_url: str, moto: str, **extra: Any) -> CollectorSettings:
    values: dict[str, Any] = {
        "env": "test",
        "redis_url": redis_url,
        "metric_shards": SHARDS,
        "aws_region": REGION,
        "aws_endpoint_url": moto,
        "aws_access_key_id": CREDENTIALS["aws_access_key_id"],
        "aws_secret_access_key": CREDENTIALS["aws_secret_access_key"],
        "collector_trailing_window_s": 6 * 3600,
    }
    return CollectorSettings(**(values | extra))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _instance(aws: AwsApi, tags: dict[str, str]) -> str:
    pairs = [{"Key": k, "Value": v} for k, v in tags.items()]
    spec = [{"ResourceType": "instance", "Tags": pairs}] if pairs else []
    async with aws.client("ec2") as ec2:
        reply = await ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, TagSpecifications=spec)
    return str(reply["Instances"][0]["InstanceId"])


async def _put(aws: AwsApi, instance: str, points: list[tuple[datetime, float]]) -> None:
    async with aws.client("cloudwatch") as cloudwatch:
        for start in range(0, len(points), 500):
            await cloudwatch.put_metric_data(
                Namespace="AWS/EC2",
                MetricData=[
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                        "Timestamp": at,
                        "Value": value,
                        "Unit": "Percent",
                    }
                    for at, value in points[start : start + 500]
                ],
            )


def minutes_ago(n: int) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=n)


def history(count: int, seed: int, last_minutes_ago: int = 2) -> list[tuple[datetime, float]]:
    rng = random.Random(seed)
    return [(minutes_ago(last_minutes_ago + count - 1 - i), rng.gauss(40, 2)) for i in range(count)]


def published(client: redis.Redis) -> list[dict[str, Any]]:
    samples = []
    for stream in all_metric_streams(SHARDS):
        for _, fields in client.xrange(stream):
            samples += json.loads(fields[b"data"])["samples"]
    return samples


async def _poll(config: CollectorSettings) -> Published:
    """One poll by a freshly started collector (what a restart is)."""
    redis_client = Redis.from_url(config.redis_url)
    try:
        return await build(config, redis_client).collector.poll_once()
    finally:
        await redis_client.aclose()


def test_only_opted_in_instances_are_collected_and_each_datapoint_once_across_restarts(
    aws: AwsApi, moto: str, redis_url: str, sync_redis: redis.Redis
) -> None:
    opted_in = run(_instance(aws, {OPT_IN: "test"}))
    other_env = run(_instance(aws, {OPT_IN: "prod"}))
    untagged = run(_instance(aws, {}))
    for instance, seed in ((opted_in, 1), (other_env, 2), (untagged, 3)):
        run(_put(aws, instance, history(30, seed, last_minutes_ago=3)))
    config = settings(redis_url, moto)

    first = run(_poll(config))
    samples = published(sync_redis)
    assert first.samples == 30 == len(samples)
    assert {s["resource_id"] for s in samples} == {opted_in}
    assert {s["metric"] for s in samples} == {"cpu_utilization"}
    assert samples[0]["labels"] == {
        "source": "cloudwatch",
        "aws_region": REGION,
        "aws_namespace": "AWS/EC2",
    }

    assert run(_poll(config)).samples == 0  # restarted: nothing again
    # CloudWatch receives a datapoint late (the minute after the last one published): it
    # is inside the trailing window, so the next poll publishes it, once.
    run(_put(aws, opted_in, [(minutes_ago(2), 55.0)]))
    assert run(_poll(config)).samples == 1
    assert run(_poll(config)).samples == 0
    samples = published(sync_redis)
    assert len(samples) == 31
    stamps = [s["timestamp"] for s in samples]
    assert len(set(stamps)) == 31
    assert samples[-1]["value"] == 55.0


def test_an_assumed_role_labels_samples_with_its_account(
    aws: AwsApi, moto: str, redis_url: str, sync_redis: redis.Redis
) -> None:
    instance = run(_instance(aws, {OPT_IN: "test"}))
    run(_put(aws, instance, history(5, seed=4)))
    role = "arn:aws:iam::123456789012:role/smartcloudops-collector"
    config = settings(redis_url, moto, collector_accounts=[{"role_arn": role, "regions": [REGION]}])
    assert run(_poll(config)).samples == 5
    labels = published(sync_redis)[0]["labels"]
    assert labels["aws_account"] == "123456789012"
    assert labels["aws_region"] == REGION


def test_more_series_than_one_call_takes_are_listed_and_read_page_by_page(
    aws: AwsApi, moto: str, redis_url: str, sync_redis: redis.Redis
) -> None:
    # 620 series: two ListMetrics pages (500 per page) and two GetMetricData calls (500
    # queries per call); untagged, so the opt-in tag is switched off.
    at = minutes_ago(2)

    async def seed() -> None:
        async with aws.client("cloudwatch") as cloudwatch:
            for start in range(0, 620, 200):
                await cloudwatch.put_metric_data(
                    Namespace="AWS/EC2",
                    MetricData=[
                        {
                            "MetricName": "CPUUtilization",
                            "Dimensions": [{"Name": "InstanceId", "Value": f"i-{n:017x}"}],
                            "Timestamp": at,
                            "Value": float(n % 100),
                        }
                        for n in range(start, min(start + 200, 620))
                    ],
                )

    run(seed())
    config = settings(redis_url, moto, collector_opt_in_tag="", collector_trailing_window_s=300)
    assert run(_poll(config)).samples == 620
    assert len({s["resource_id"] for s in published(sync_redis)}) == 620


def test_fetch_series_reads_one_series_oldest_first(aws: AwsApi) -> None:
    instance = "i-0123456789abcdef0"
    points = history(10, seed=5)
    run(_put(aws, instance, list(reversed(points))))
    query = CloudWatchQuery("AWS/EC2", "CPUUtilization", (("InstanceId", instance),))
    got = run(fetch_series(aws, query, minutes_ago(20), minutes_ago(0)))
    assert [v for _, v in got] == pytest.approx([v for _, v in points])
    assert [t for t, _ in got] == [t for t, _ in points]


def test_a_spike_in_cloudwatch_history_becomes_an_anomaly(
    aws: AwsApi, moto: str, redis_url: str, sync_redis: redis.Redis, log_dir: Path
) -> None:
    instance = run(_instance(aws, {OPT_IN: "test"}))
    points = history(300, seed=6, last_minutes_ago=3)
    points.append((minutes_ago(2), 97.0))
    run(_put(aws, instance, points))
    env = stack_env(redis_url, {"SCOPS_METRIC_SHARDS": str(SHARDS)})
    detector = service("detector", env, log_dir).start().wait_ready()
    try:
        assert run(_poll(settings(redis_url, moto))).samples == 301
        deadline = time.monotonic() + 20
        found: list[dict[str, Any]] = []
        while not found:
            assert time.monotonic() < deadline, detector.log_tail()
            events = [json.loads(f[b"data"]) for _, f in sync_redis.xrange(ANOMALIES)]
            found = [e for e in events if e["type"] == "anomaly.detected.v1"]
            time.sleep(0.1)
        assert found[0]["resource_id"] == instance
        assert found[0]["metric"] == "cpu_utilization"
    finally:
        detector.stop()

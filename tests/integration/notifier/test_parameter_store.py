"""The webhook URL from Parameter Store (moto's server on loopback, read by the real aioboto3
client): decrypted, cached, re-read when the webhook is revoked, and never in a log line or an
API answer."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aioboto3
import httpx
import pytest
import redis
from pydantic import SecretStr

from services.notifier.delivery.webhook_urls import AwsAccess, ParameterStoreUrl
from services.notifier.errors import WebhookUrlUnavailable
from shared.bus import encode_event
from shared.events import utcnow
from shared.streams import ANOMALIES
from tests.support.moto_server import CREDENTIALS, REGION
from tests.support.notifier_events import anomaly
from tests.support.processes import service, stack_env
from tests.support.slack_standin import SlackStandIn

PARAMETER = "/smartcloudops/test/slack/webhook"


async def put_parameter(aws_url: str, value: str, name: str = PARAMETER) -> None:
    session = aioboto3.Session(region_name=REGION, **CREDENTIALS)
    async with session.client("ssm", endpoint_url=aws_url) as ssm:
        await ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def access(aws_url: str) -> AwsAccess:
    return AwsAccess(
        region=REGION,
        endpoint_url=aws_url,
        access_key_id=SecretStr(CREDENTIALS["aws_access_key_id"]),
        secret_access_key=SecretStr(CREDENTIALS["aws_secret_access_key"]),
        timeout_s=2.0,
    )


async def test_the_url_is_read_decrypted_and_cached_then_refreshed(aws_url: str) -> None:
    await put_parameter(aws_url, "https://hooks.example/one")
    now = [0.0]
    source = ParameterStoreUrl(
        access(aws_url), PARAMETER, fallback=None, ttl_s=60, clock=lambda: now[0]
    )
    first = await source.resolve()
    assert first is not None and first.get_secret_value() == "https://hooks.example/one"
    await put_parameter(aws_url, "https://hooks.example/two")
    assert await source.resolve() == first and source.reads == 1  # cached
    refreshed = await source.refresh()
    assert refreshed is not None and refreshed.get_secret_value() == "https://hooks.example/two"
    now[0] = 61.0
    assert await source.resolve() == refreshed and source.reads == 3  # the cache expired


async def test_a_missing_parameter_falls_back_to_the_settings(aws_url: str) -> None:
    fallback = SecretStr("https://hooks.example/from-settings")
    source = ParameterStoreUrl(access(aws_url), "/nope", fallback=fallback, ttl_s=60)
    assert await source.resolve() == fallback
    empty = ParameterStoreUrl(access(aws_url), "/nope", fallback=None, ttl_s=60)
    assert await empty.resolve() is None  # the default receiver then keeps an outbox


async def test_an_unreachable_parameter_store_is_a_delivery_error_naming_no_url() -> None:
    down = AwsAccess(
        region=REGION,
        endpoint_url="http://127.0.0.1:9",
        access_key_id=SecretStr("testing"),
        secret_access_key=SecretStr("testing"),
        timeout_s=0.5,
    )
    source = ParameterStoreUrl(down, PARAMETER, fallback=None, ttl_s=60)
    with pytest.raises(WebhookUrlUnavailable, match=PARAMETER) as info:
        await source.resolve()
    assert info.value.reason == "url_unavailable"
    fallback = SecretStr("https://hooks.example/from-settings")
    assert await ParameterStoreUrl(down, PARAMETER, fallback=fallback, ttl_s=60).resolve() == (
        fallback
    )


def test_a_notifier_process_posts_to_the_url_in_parameter_store_and_follows_its_rotation(
    aws_url: str, redis_url: str, slack: SlackStandIn, log_dir: Path
) -> None:
    asyncio.run(put_parameter(aws_url, slack.webhook("FROM-SSM-1")))
    env = stack_env(
        redis_url,
        {
            "SCOPS_AWS_REGION": REGION,
            "SCOPS_AWS_ENDPOINT_URL": aws_url,
            "SCOPS_AWS_ACCESS_KEY_ID": "testing",
            "SCOPS_AWS_SECRET_ACCESS_KEY": "testing",
            "SCOPS_LOG_LEVEL": "DEBUG",
            "SCOPS_GROUP_WAIT_S": "0.2",
            "SCOPS_RETRY_BASE_S": "0.05",
        },
    )
    notifier = service("notifier", env, log_dir).start()
    client = redis.Redis.from_url(redis_url)
    try:
        notifier.wait_ready()
        client.xadd(ANOMALIES, encode_event(anomaly(at=utcnow())))
        slack.wait_for(1, timeout=15)
        asyncio.run(put_parameter(aws_url, slack.webhook("FROM-SSM-2")))
        slack.revoke("FROM-SSM-1")
        client.xadd(ANOMALIES, encode_event(anomaly(metric="memory_utilization", at=utcnow())))
        slack.wait_for(2, timeout=15)
        time.sleep(0.5)
        answers = [(r.path.rsplit("/", 1)[1], r.status) for r in slack.received]
        assert answers == [("FROM-SSM-1", 200), ("FROM-SSM-1", 404), ("FROM-SSM-2", 200)]
        assert notifier.url is not None
        api = {
            path: httpx.get(f"{notifier.url}{path}").text
            for path in (
                "/notifications",
                "/notifications/dead-letter",
                "/notifications/groups",
                "/notifications/outbox",
                "/metrics",
            )
        }
    finally:
        client.close()
        notifier.stop()
    log = notifier.log_text()
    assert '"event": "webhook_url_reread"' in log
    assert "FROM-SSM" not in log
    assert all("FROM-SSM" not in text for text in api.values())
    rows = json.loads(api["/notifications"])
    assert [r["status"] for r in rows] == ["delivered", "delivered"]

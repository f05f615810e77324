"""A local AWS API (moto in server mode) on loopback, reached over HTTP by the real aioboto3
client exactly as AWS would be; its state is reset for every test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from moto.server import ThreadedMotoServer

from scops.local_redis import free_port
from services.remediator.aws.session import AwsApi, AwsConfig
from tests.unit.remediator.conftest import anomaly, catalogue, registry

__all__ = ["anomaly", "catalogue", "registry"]  # shared with the unit tests

REGION = "us-east-1"
AMI = "ami-12c6146b"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_url(moto_server: str) -> str:
    httpx.post(f"{moto_server}/moto-api/reset").raise_for_status()
    return moto_server


def aws_config(url: str) -> AwsConfig:
    return AwsConfig(
        region=REGION,
        endpoint_url=url,
        access_key_id="testing",
        secret_access_key="testing",
        attempts=3,
        max_wait_s=0.2,
    )


@pytest.fixture
def aws(aws_url: str) -> AwsApi:
    return AwsApi(aws_config(aws_url))

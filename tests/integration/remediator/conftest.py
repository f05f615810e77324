"""A local AWS API (moto in server mode) on loopback, reached over HTTP by the real aioboto3
client exactly as AWS would be; its state is reset for every test."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
from moto.server import ThreadedMotoServer

from scops.local_redis import free_port
from services.remediator.aws.session import AwsApi, AwsConfig
from services.remediator.config import RemediatorSettings
from services.remediator.core.action_requests import ActionRequest
from services.remediator.handling.manual import ManualRequest, prepare
from services.remediator.handling.workflow import AnomalyWorkflow
from services.remediator.wiring import Remediator, build
from shared.events import AnomalyEvent, RemediationRecord
from tests.support.aws_fleet import AMI
from tests.support.processes import stack_env
from tests.support.records import remediation_records
from tests.support.remediator_fixtures import CATALOGUE, anomaly, catalogue, registry

__all__ = ["AMI", "anomaly", "catalogue", "registry"]  # shared with the unit tests (tests/support)

REGION = "us-east-1"


def aws_worker_env(redis_url: str, aws_url: str, rules: Path) -> dict[str, str]:
    """Settings of a worker that acts for real (no dry run) on the local AWS server."""
    return stack_env(
        redis_url,
        {
            "SCOPS_RULES_PATH": str(rules),
            "SCOPS_DRY_RUN": "false",
            "SCOPS_AWS_REGION": REGION,
            "SCOPS_AWS_ENDPOINT_URL": aws_url,
            "SCOPS_AWS_ACCESS_KEY_ID": "testing",
            "SCOPS_AWS_SECRET_ACCESS_KEY": "testing",
            "SCOPS_SSM_POLL_FIRST_S": "0.2",
            "SCOPS_LOG_LEVEL": "WARNING",
        },
    )


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


@dataclass
class QueuedWork:
    """Stands in for the Celery transport in in-process tests: keeps what would be sent to the
    workers, for the test to run (the real transport is tested with real workers)."""

    polls: list[tuple[str, float]] = field(default_factory=list)
    rechecks: list[tuple[AnomalyEvent, str, float]] = field(default_factory=list)
    executions: list[ActionRequest] = field(default_factory=list)
    anomalies: list[tuple[AnomalyEvent, bool]] = field(default_factory=list)
    verifications: list[tuple[str, float, bool]] = field(default_factory=list)

    def handle(self, anomaly: AnomalyEvent, *, dry_run: bool) -> None:
        self.anomalies.append((anomaly, dry_run))

    def poll(self, run_id: str, delay_s: float) -> None:
        self.polls.append((run_id, delay_s))

    def recheck(self, anomaly: AnomalyEvent, rule: str, delay_s: float) -> None:
        self.rechecks.append((anomaly, rule, delay_s))

    def execute(self, request: ActionRequest) -> None:
        self.executions.append(request)

    def verify(self, run_id: str, delay_s: float, *, follow: bool) -> None:
        self.verifications.append((run_id, delay_s, follow))


@dataclass
class Harness:
    remediator: Remediator
    work: QueuedWork
    client: redis.Redis

    @property
    def workflow(self) -> AnomalyWorkflow:
        return self.remediator.workflow

    def records(self) -> list[RemediationRecord]:
        return remediation_records(self.client)

    def run_polls(self) -> None:
        while self.work.polls:
            run_id, _delay = self.work.polls.pop(0)
            self.remediator.runner.poll(run_id)

    def ask_cleanup(self, target: dict[str, object], by: str = "ana") -> ActionRequest:
        """A person's request to clean /tmp on ``target``, prepared as the API prepares it
        (refused requests raise)."""
        body = ManualRequest.model_validate(
            {
                "action": "cleanup_disk",
                "target": target,
                "params": {"paths": ["/tmp"], "clean_package_cache": False},
                "reason": "r",
                "by": by,
            }
        )
        return prepare(self.workflow, body, "cid", requested_by=by).request


HarnessFactory = Callable[..., Harness]


@pytest.fixture
def harness(redis_url: str, sync_redis: redis.Redis, tmp_path: Path) -> HarnessFactory:
    def make(rules: str, **settings: object) -> Harness:
        path = tmp_path / "rules.yaml"
        path.write_text(rules)
        values: dict[str, object] = {
            "redis_url": redis_url,
            "rules_path": path,
            "script_catalogue_path": CATALOGUE,
            "env": "test",
            "dry_run": False,
            "claim_lease_s": 2.0,
        }
        aws_url = settings.pop("aws_url", None)
        if aws_url is not None:
            values |= {
                "aws_region": REGION,
                "aws_endpoint_url": aws_url,
                "aws_access_key_id": "testing",
                "aws_secret_access_key": "testing",
                "aws_attempts": 2,
                "aws_retry_max_wait_s": 0.1,
                "executor": "ssm",
            }
        values.update(settings)
        work = QueuedWork()
        built = build(RemediatorSettings.model_validate(values), sync_redis, work)
        return Harness(built, work, sync_redis)

    return make

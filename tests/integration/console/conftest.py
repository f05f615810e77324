"""A real gateway, remediator, notifier and Celery worker for the console's tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from scops.local_redis import free_port
from tests.integration.console.session_client import ConsoleClient
from tests.support.processes import StackProcess, api_key, service, stack_env, worker


@dataclass
class ConsoleStack:
    gateway: StackProcess
    redis_url: str

    @property
    def url(self) -> str:
        assert self.gateway.url is not None
        return self.gateway.url

    def key(self, role: str, name: str) -> str:
        return api_key(self.redis_url, role, name)

    def client(self) -> ConsoleClient:
        return ConsoleClient(self.url)

    def api(self, method: str, path: str, key: str, json: Any = None) -> httpx.Response:
        return httpx.request(
            method, self.url + path, headers={"X-API-Key": key}, timeout=20, json=json
        )


@pytest.fixture(scope="package")  # one stack for every console test: starting one is costly
def console_stack(
    redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConsoleStack]:
    logs: Path = tmp_path_factory.mktemp("console-logs")
    history_port = free_port()
    env = stack_env(
        redis_server,
        {
            "SCOPS_DRY_RUN": "false",  # the executor is still dry-run: no AWS is configured
            "SCOPS_HISTORY_PORT": str(history_port),
            "SCOPS_HISTORY_URL": f"http://127.0.0.1:{history_port}",
            "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{logs / 'history.db'}",
        },
    )
    processes = [
        service("remediator", env, logs),
        service("notifier", env, logs),
        service("history", env, logs),
        service("gateway", env, logs),
        worker(env, logs),
    ]
    try:
        for process in processes:
            process.start()
        for process in processes[:4]:
            process.wait_ready(60)
        yield ConsoleStack(processes[3], redis_server)
    finally:
        for process in processes:
            process.stop()


@pytest.fixture
def console(console_stack: ConsoleStack) -> Iterator[ConsoleClient]:
    client = console_stack.client()
    yield client
    client.close()

"""One stack for the ChatOps and Slack tests: real gateway, detector, remediator (deny list
``db-*``), notifier and history (SQLite) processes on the suite's Redis, a Slack stand-in
receiving the ``response_url`` posts, an LLM stand-in, and seeded data: anomalies through the
gateway's Alertmanager receiver, audit records, pending approvals."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis

from scops.local_redis import free_port
from services.gateway.slack.signature import sign
from tests.integration.gateway_chatops.llm_standin import LlmStandIn
from tests.integration.gateway_chatops.seeds import seed_anomalies
from tests.support.processes import StackProcess, api_key, service, stack_env
from tests.support.slack_standin import Received, SlackStandIn

ROOT = Path(__file__).resolve().parents[3]
SIGNING_SECRET = "slack-signing-secret-for-tests"
LLM_KEY = "sk-standin-key-never-logged"
OPERATOR_SLACK = "U0OPERATOR"
VIEWER_SLACK = "U0VIEWER"


@dataclass
class Stack:
    redis_url: str
    redis: redis.Redis
    gateway: StackProcess
    processes: dict[str, StackProcess]
    slack: SlackStandIn
    llm: LlmStandIn
    keys: dict[str, str]

    def url(self, service: str) -> str:
        return str(self.processes[service].url)

    def ask(self, query: str, key: str = "viewer") -> dict[str, Any]:
        reply = httpx.post(
            f"{self.gateway.url}/chatops/query",
            json={"query": query},
            headers={"X-API-Key": self.keys[key]},
            timeout=20,
        )
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    def slack_post(
        self, path: str, form: dict[str, str], *, secret: str = SIGNING_SECRET, age_s: float = 0
    ) -> httpx.Response:
        body = urlencode(form).encode()
        return self.slack_raw(path, body, signed_headers(body, secret=secret, age_s=age_s))

    def slack_raw(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            f"{self.gateway.url}{path}",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
            timeout=20,
        )

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.slack.port}/services/responses/{name}"

    def posted_to(self, name: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        path = f"/services/responses/{name}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.slack.received if r.path == path]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"nothing posted to {path} within {timeout}s")


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, age_s: float = 0
) -> dict[str, str]:
    timestamp = str(int(time.time() - age_s))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret, timestamp, body),
    }


def slash(text: str, user: str, response_url: str, team: str = "T0TEAM") -> dict[str, str]:
    return {
        "token": "unused",
        "team_id": team,
        "channel_id": "C0OPS",
        "user_id": user,
        "user_name": "ops-person" if user == OPERATOR_SLACK else "watcher",
        "command": "/cloudops",
        "text": text,
        "response_url": response_url,
        "trigger_id": uuid.uuid4().hex,
    }


@pytest.fixture(scope="package")
def stack(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    logs = tmp_path_factory.mktemp("chatops-logs")
    slack = SlackStandIn().start()
    llm = LlmStandIn().start()
    history_port = free_port()
    env = stack_env(
        redis_server,
        {
            "SCOPS_DENIED_TARGETS": "db-*",
            "SCOPS_RULES_PATH": str(ROOT / "deploy/config/remediation-rules.yaml"),
            "SCOPS_SCRIPT_CATALOGUE_PATH": str(ROOT / "deploy/config/script-catalogue.yaml"),
            "SCOPS_MODEL_DIR": str(tmp_path_factory.mktemp("models")),
            "SCOPS_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SCOPS_SLACK_USER_ROLES": f'{{"{OPERATOR_SLACK}": "operator"}}',
            "SCOPS_SLACK_TEAM_IDS": '["T0TEAM", "T0TWO"]',
            "SCOPS_SLACK_RESPONSE_URL_PREFIX": f"http://127.0.0.1:{slack.port}/services/",
            "SCOPS_SLACK_INLINE_BUDGET_S": "1.0",
            "SCOPS_CHATOPS_LLM_URL": llm.url,
            "SCOPS_CHATOPS_LLM_API_KEY": LLM_KEY,
            "SCOPS_CHATOPS_LLM_MODEL": "standin-model",
            "SCOPS_CHATOPS_RATE_PER_MIN": "1000",
            "SCOPS_GROUP_WAIT_S": "0.2",
            "SCOPS_HISTORY_PORT": str(history_port),
            "SCOPS_HISTORY_URL": f"http://127.0.0.1:{history_port}",
            "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{logs}/history.db",
        },
    )
    names = ("gateway", "remediator", "notifier", "detector", "history")
    for name in names[1:]:
        env[f"SCOPS_{name.upper()}_URL"] = f"http://127.0.0.1:{env[f'SCOPS_{name.upper()}_PORT']}"
    processes = {name: service(name, env, logs) for name in names}
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_ready(60)
        keys = {
            "viewer": api_key(redis_server, "viewer", "vera"),
            "viewer2": api_key(redis_server, "viewer", "victor"),
            "operator": api_key(redis_server, "operator", "olga"),
            "admin": api_key(redis_server, "admin", "ada"),
            "ingest": api_key(redis_server, "ingest", "alertmanager"),
        }
        stack = Stack(redis_server, client, processes["gateway"], processes, slack, llm, keys)
        seed_anomalies(stack.gateway.url or "", keys["ingest"], keys["viewer"], now())
        yield stack
    finally:
        for process in processes.values():
            process.stop()
        slack.stop()
        llm.stop()
        client.close()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def ago(**delta: float) -> datetime:
    return now() - timedelta(**delta)

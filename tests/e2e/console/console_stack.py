"""Every process of the stack, with a rule that needs two people, and an incident made by a
real anomaly: what the console's browser tests and its screenshots start from."""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from scops.local_redis import free_port
from tests.support.processes import StackProcess, api_key, service, stack_env, worker

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTANCE = "i-0c0501e0000000001"
METRIC = "cpu_utilization"
RULES = f"""
version: 1
policy:
  approval_for_risk: [high]
rules:
  - name: cpu-restart-two-people
    description: A CPU spike restarts nginx once two people agree.
    match:
      metric: ["{METRIC}"]
      severity_at_least: high
    approval: required
    approvals_required: 2
    verify: false
    actions:
      - action: restart_service
        params: {{service: nginx}}
        target: {{instance_id: "{{resource_id}}"}}
  - name: disk-cleanup-trial
    description: Tried in shadow first - recorded, never run.
    mode: shadow
    match:
      metric: ["disk_used_percent"]
      severity_at_least: medium
    actions:
      - action: cleanup_disk
        params: {{paths: ["/tmp"]}}
"""
SERVICES = ("detector", "remediator", "notifier", "history", "gateway")


@dataclass
class ConsoleStack:
    processes: dict[str, StackProcess]
    redis_url: str

    @property
    def url(self) -> str:
        url = self.processes["gateway"].url
        assert url is not None
        return url

    def key(self, role: str, name: str) -> str:
        """A real API key; made on a thread of its own, as Playwright's sync API keeps an
        event loop running on this one."""
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(api_key, self.redis_url, role, name).result()

    def api(self, path: str, key: str, **params: str) -> Any:
        reply = httpx.get(self.url + path, headers={"X-API-Key": key}, params=params, timeout=20)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{p.log_tail(20)}" for n, p in self.processes.items())


@contextmanager
def console_stack(redis_url: str, work_dir: Path) -> Iterator[ConsoleStack]:
    history_port = free_port()
    rules = work_dir / "rules.yaml"
    rules.write_text(RULES)
    env = stack_env(
        redis_url,
        {
            "SCOPS_DRY_RUN": "false",  # the executor is dry-run all the same: no AWS here
            "SCOPS_RULES_PATH": str(rules),
            "SCOPS_HISTORY_PORT": str(history_port),
            "SCOPS_HISTORY_URL": f"http://127.0.0.1:{history_port}",
            "SCOPS_HISTORY_DATABASE_URL": f"sqlite+aiosqlite:///{work_dir / 'history.db'}",
            "SCOPS_CONSOLE_PUBLIC_URL": "http://console.example/console",
        },
    )
    processes = {name: service(name, env, work_dir) for name in SERVICES}
    processes["worker"] = worker(env, work_dir)
    try:
        for process in processes.values():
            process.start()
        for name in SERVICES:
            processes[name].wait_ready(90)
        yield ConsoleStack(processes, redis_url)
    finally:
        for process in processes.values():
            process.stop()


def _post(stack: ConsoleStack, key: str, samples: list[dict[str, Any]]) -> None:
    reply = httpx.post(
        f"{stack.url}/v1/metrics", json={"samples": samples}, headers={"X-API-Key": key}
    )
    assert reply.status_code == 202, reply.text


def raise_incident(stack: ConsoleStack, timeout: float = 60.0) -> dict[str, Any]:
    """Normal CPU for five hours, then a spike: the detector's anomaly opens an incident and
    the rule asks two people to approve a restart. Answers the incident as listed."""
    ingest, viewer = stack.key("ingest", "loader"), stack.key("viewer", "watcher")
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(hours=6)
    samples = [
        {
            "resource_id": INSTANCE,
            "metric": METRIC,
            "value": round(rng.gauss(35.0, 2.5), 2),
            "timestamp": (start + timedelta(minutes=i)).isoformat(),
        }
        for i in range(300)
    ]
    for i in range(0, len(samples), 100):
        _post(stack, ingest, samples[i : i + 100])
    spike = start + timedelta(minutes=300)
    _post(
        stack,
        ingest,
        [
            {
                "resource_id": INSTANCE,
                "metric": METRIC,
                "value": 97.0,
                "timestamp": spike.isoformat(),
            }
        ],
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in stack.processes.values():
            process.assert_alive()
        incidents = stack.api("/incidents", viewer, resource_id=INSTANCE)["items"]
        approvals = stack.api("/remediation/approvals", viewer)
        if incidents and approvals:
            found: dict[str, Any] = incidents[0]
            return found
        time.sleep(0.3)
    raise AssertionError(f"no incident with a pending approval in {timeout}s:\n{stack.logs()}")

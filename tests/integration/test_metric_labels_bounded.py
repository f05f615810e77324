"""What an outside caller sends adds no Prometheus series.

An operator (an API key of role operator, or a Slack user mapped to operator) asks for an
action the catalogue does not hold. The gateway forwards the request, the remediator refuses it
(422 "Unknown action") and records the refusal; the record is counted in
``remediation_actions_total`` under ``action="unknown"``, never under the name the caller
chose (any ``^[a-z][a-z0-9_]{0,63}$``: one series per name would grow ``/metrics``, and the
Prometheus scraping it, without bound)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env

NAMES = 100  # distinct refused names; 20,000 would take the same path 20,000 times


@pytest.fixture
def stack(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, StackProcess]]:
    logs = tmp_path_factory.mktemp("labels")
    # The per-key forwarding budget (600 a minute by default) only slows a caller down.
    env = stack_env(redis_url, {"SCOPS_PROXY_RATE_PER_MIN": "100000"})
    processes = {name: service(name, env, logs).start() for name in ("gateway", "remediator")}
    try:
        for process in processes.values():
            process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


def unknown_counted(metrics_text: str) -> float:
    found = re.findall(
        r'^remediation_actions_total\{action="unknown",[^}]*\} (\S+)', metrics_text, re.M
    )
    return sum(float(v) for v in found)


def action_labels(metrics_text: str) -> set[str]:
    return set(re.findall(r'^remediation_actions_total\{action="([^"]*)"', metrics_text, re.M))


def test_refused_action_names_chosen_by_a_caller_do_not_become_metric_labels(
    stack: dict[str, StackProcess], redis_url: str
) -> None:
    gateway, remediator = stack["gateway"].url, stack["remediator"].url
    key = api_key(redis_url, "operator", "label-maker")
    before = httpx.get(f"{remediator}/metrics", timeout=20).text
    with httpx.Client(timeout=20, headers={"X-API-Key": key}) as client:
        for i in range(NAMES):
            reply = client.post(
                f"{gateway}/remediation/execute",
                json={
                    "action": f"no_such_action_{i:05d}",
                    "target": {"instance_ids": ["i-0123456789abcdef0"]},
                    "reason": "cardinality probe",
                    "by": "probe",
                },
            )
            assert reply.status_code == 422, reply.text  # refused, as it should be
    deadline = time.monotonic() + 30
    while True:  # the API counts records from the stream a moment later
        after = httpx.get(f"{remediator}/metrics", timeout=20).text
        if unknown_counted(after) >= NAMES or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    added = action_labels(after) - action_labels(before)
    growth = len(after) - len(before)
    print(f"/metrics {len(before)} -> {len(after)} bytes; {len(added)} new action labels")
    assert unknown_counted(after) == NAMES  # each refusal counted, under one label value
    assert len(added) <= 1, (
        f"{len(added)} new remediation_actions_total series after {NAMES} refused names "
        f"(/metrics grew by {growth} bytes, e.g. {sorted(added)[:3]})"
    )

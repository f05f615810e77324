"""A real Alertmanager with the project's configuration, pointed at the running gateway: an
alert posted to Alertmanager reaches the gateway's receiver with the ingest key read from a
file, becomes an anomaly event, a remediation record and a Slack message."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from scops.local_redis import free_port
from shared.streams import ANOMALIES
from tests.integration.observability.conftest import ObservedStack, find_binary, running_binary
from tests.support.observability_files import DEPLOY
from tests.support.processes import api_key


def _config(stack: ObservedStack, key_file: Path) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml with the receiver on loopback, the key file in a
    temporary directory and short group waits."""
    config: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    )
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            path = hook["url"].split("//", 1)[1].split("/", 1)[1]
            hook["url"] = f"{stack.url('gateway')}/{path}"
            hook["http_config"]["authorization"]["credentials_file"] = str(key_file)
    for route in [config["route"], *config["route"].get("routes", [])]:
        route["group_wait"] = "0s"
    return config


@pytest.fixture(scope="module")
def alertmanager(
    observed: ObservedStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    binary = find_binary("prometheus-alertmanager", "alertmanager")
    work = tmp_path_factory.mktemp("alertmanager")
    key_file = work / "ingest-api-key"
    key_file.write_text(api_key(observed.redis_url, "ingest", name="alertmanager"))
    key_file.chmod(0o600)
    (work / "alertmanager.yml").write_text(yaml.safe_dump(_config(observed, key_file)))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={work / 'alertmanager.yml'}",
        f"--storage.path={work / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--cluster.listen-address=",  # one instance, no gossip
        "--log.level=warn",
    ]
    with running_binary(args, f"{url}/-/ready", work / "alertmanager.log"):
        yield url


def _anomalies(stack: ObservedStack) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(stack.redis_url)
    try:
        return [json.loads(f[b"data"]) for _, f in client.xrange(ANOMALIES)]
    finally:
        client.close()


def _wait(check: Any, what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout}s")


def test_an_alert_flows_through_alertmanager_to_a_decision_and_a_message(
    observed: ObservedStack, alertmanager: str
) -> None:
    alert = {
        "labels": {"alertname": "HostDiskFull", "instance": "web-9", "severity": "critical"},
        "annotations": {"summary": "Disk of web-9 is 97 % full", "value": "97"},
        "startsAt": datetime.now(UTC).isoformat(),
    }
    reply = httpx.post(f"{alertmanager}/api/v2/alerts", json=[alert], timeout=10)
    assert reply.status_code == 200, reply.text

    (anomaly,) = _wait(
        lambda: [a for a in _anomalies(observed) if a.get("resource_id") == "web-9"],
        "anomaly event from the alert",
    )
    assert anomaly["type"] == "anomaly.detected.v1"
    assert (anomaly["metric"], anomaly["severity"], anomaly["value"]) == (
        "HostDiskFull",
        "critical",
        97.0,
    )
    assert anomaly["detectors"] == ["alertmanager"]
    records = _wait(
        lambda: [r for r in observed.records() if r["anomaly_id"] == anomaly["event_id"]],
        "remediation record for the alert",
    )
    assert records[0]["resource_id"] == "web-9"
    _wait(
        lambda: [m for m in observed.slack.accepted if "web-9" in json.dumps(m)],
        "Slack message about web-9",
    )

"""Manual requests (``POST /remediation/execute``) with hostile values, on a real remediator and
gateway: an action name or a target that is no name at all is a 422 naming the field, before
anything is recorded (the audit log, the history and Slack show what a refusal names), never a
5xx, never a 403 dressed as a safety refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env

TOKEN = {"X-Internal-Token": "change-me"}  # the placeholder a test stack on loopback accepts


@pytest.fixture(scope="module")
def env(module_redis: str) -> dict[str, str]:
    return stack_env(module_redis)


@pytest.fixture(scope="module")
def remediator(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackProcess]:
    logs = tmp_path_factory.mktemp("hostile-manual-logs")
    process = service("remediator", env, logs).start().wait_ready()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def gateway(
    env: dict[str, str], remediator: StackProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StackProcess]:
    logs = tmp_path_factory.mktemp("hostile-manual-gateway-logs")
    process = service("gateway", env, logs).start().wait_ready()
    yield process
    process.stop()


def request(**overrides: Any) -> dict[str, Any]:
    return {
        "action": "restart_service",
        "target": {"instance_ids": ["i-0123456789abcdef0"]},
        "params": {"service": "nginx"},
        "reason": "hostile input",
        "by": "ana",
        **overrides,
    }


def blocked(remediator: StackProcess) -> list[dict[str, Any]]:
    reply = httpx.get(f"{remediator.url}/remediation/actions", params={"status": "blocked"})
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"action": "a" * 20_000}, "action"),
        ({"action": "restart\u0000service"}, "action"),
        ({"action": "=HYPERLINK(1)"}, "action"),
        ({"action": ""}, "action"),
        ({"target": {"instance_ids": ["i-0abc\u0000"]}}, "target.instance_ids[0]"),
        ({"target": {"auto_scaling_group": "=cmd|x\n"}}, "target.auto_scaling_group"),
        ({"target": {"tags": {"Name": "web-1\nsecond line"}}}, "target.tags.Name"),
        ({"target": {"tags": {"Na\nme": "web-1"}}}, "target.tags"),
        ({"target": {"tags": {f"k{i}": "v" for i in range(6)}}}, "target.tags"),
    ],
    ids=[
        "20k-action",
        "nul-action",
        "formula-action",
        "empty-action",
        "nul-instance",
        "bad-group",
        "newline-tag-value",
        "newline-tag-key",
        "six-tags",
    ],
)
def test_a_malformed_action_or_target_is_a_422_naming_the_field_and_records_nothing(
    gateway: StackProcess,
    remediator: StackProcess,
    module_redis: str,
    overrides: dict[str, Any],
    field: str,
) -> None:
    before = len(blocked(remediator))
    reply = httpx.post(
        f"{gateway.url}/remediation/execute",
        json=request(**overrides),
        headers={"X-API-Key": api_key(module_redis, "operator")},
    )
    assert reply.status_code == 422, (reply.status_code, reply.text[:500])
    assert reply.headers["content-type"] == "application/problem+json"
    problem = reply.json()
    assert problem["errors"][0]["field"].startswith(field), problem
    assert len(reply.content) < 5_000  # the refused value is not echoed whole
    assert len(blocked(remediator)) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"action": "MARK"}, "action"),
        ({"params": {"service": "MARK"}}, "params"),
        ({"params": {"service": "nginx", "extra": ["MARK"]}}, "params"),
    ],
    ids=["action", "param-value", "unknown-param"],
)
def test_a_lone_surrogate_in_a_manual_request_is_a_4xx_not_a_server_error(
    remediator: StackProcess, overrides: dict[str, Any], field: str
) -> None:
    before = len(blocked(remediator))
    body = httpx.Request("POST", "http://x", json=request(**overrides)).content
    reply = httpx.post(
        f"{remediator.url}/remediation/execute",
        content=body.replace(b'"MARK"', b'"restart_\\ud800"'),
        headers={**TOKEN, "Content-Type": "application/json"},
    )
    assert reply.status_code == 422, (reply.status_code, reply.text)
    assert reply.json()["errors"][0]["field"].startswith(field), reply.json()
    remediator.assert_alive()
    assert len(blocked(remediator)) == before


def test_a_well_formed_unknown_action_is_still_refused_and_recorded(
    gateway: StackProcess, remediator: StackProcess, module_redis: str
) -> None:
    before = len(blocked(remediator))
    reply = httpx.post(
        f"{gateway.url}/remediation/execute",
        json=request(action="reboot_everything"),
        headers={"X-API-Key": api_key(module_redis, "operator")},
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["title"] == "Unknown action"
    assert [e["field"] for e in reply.json()["errors"]] == ["action"], reply.json()
    assert len(blocked(remediator)) == before + 1


@pytest.mark.parametrize(
    "params",
    [
        {"service": "nginx", "padding": "p" * 1_000_000},
        {"service": "nginx", "x\ny": 1},
        {f"p{i}": i for i in range(100)},
    ],
    ids=["megabyte-value", "newline-key", "hundred-keys"],
)
def test_params_too_large_to_be_parameters_are_a_422_and_never_stored(
    gateway: StackProcess, remediator: StackProcess, module_redis: str, params: dict[str, Any]
) -> None:
    before = blocked(remediator)
    reply = httpx.post(
        f"{gateway.url}/remediation/execute",
        json=request(params=params),
        headers={"X-API-Key": api_key(module_redis, "operator")},
        timeout=30,
    )
    assert reply.status_code == 422, (reply.status_code, reply.text[:500])
    assert reply.json()["errors"][0]["field"].startswith("params"), reply.json()
    assert blocked(remediator) == before

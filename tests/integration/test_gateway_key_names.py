"""API keys are named by people, in any script (``scops keys create --name "Jürgen ops"``): a
key whose name is not ASCII works on every route, and the services behind the gateway record
the name as it was given. Real processes, real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.processes import StackProcess, api_key, service, stack_env

NAME = "Jürgen ops\u00e9"


@pytest.fixture(scope="module")
def env(module_redis: str) -> dict[str, str]:
    return stack_env(module_redis)


@pytest.fixture(scope="module")
def stack(
    env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, StackProcess]]:
    logs = tmp_path_factory.mktemp("key-names-logs")
    processes = {
        name: service(name, env, logs).start() for name in ("remediator", "notifier", "gateway")
    }
    try:
        for process in processes.values():
            process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/remediation/status", None),
        ("GET", "/notifications/silences", None),
        (
            "POST",
            "/notifications/silences",
            {"matchers": {"resource": "names-1"}, "duration_s": 600, "comment": "names"},
        ),
    ],
    ids=["remediator-read", "notifier-read", "notifier-write"],
)
def test_a_key_named_in_any_script_is_served_on_forwarded_routes(
    stack: dict[str, StackProcess],
    module_redis: str,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    key = api_key(module_redis, "operator", name=NAME)
    reply = httpx.request(
        method, f"{stack['gateway'].url}{path}", json=body, headers={"X-API-Key": key}
    )
    assert reply.status_code < 300, (reply.status_code, reply.text)
    if method == "POST":
        assert NAME in reply.json()["created_by"]


def test_a_window_removed_by_a_key_named_in_any_script_names_it_in_the_admin_log(
    stack: dict[str, StackProcess], module_redis: str
) -> None:
    gateway = stack["gateway"].url
    key = api_key(module_redis, "admin", name=NAME)
    created = httpx.post(
        f"{gateway}/remediation/maintenance",
        json={"target_pattern": "names-*", "duration": "1h", "reason": "names"},
        headers={"X-API-Key": key},
    )
    assert created.status_code == 201, created.text
    window = created.json()["id"]
    removed = httpx.delete(
        f"{gateway}/remediation/maintenance/{window}", headers={"X-API-Key": key}
    )
    assert removed.status_code == 200, (removed.status_code, removed.text)
    log = httpx.get(f"{gateway}/remediation/admin-log", headers={"X-API-Key": key}).json()
    [entry] = [e for e in log if e["kind"] == "maintenance_removed" and e["window"] == window]
    assert entry["by"].startswith(f"{NAME} (key "), entry


def test_a_key_with_a_long_name_acts_under_a_shortened_name_naming_its_id(
    stack: dict[str, StackProcess], module_redis: str
) -> None:
    long_name = "team-" + "x" * 195
    key = api_key(module_redis, "operator", name=long_name)
    reply = httpx.post(
        f"{stack['gateway'].url}/notifications/silences",
        json={"matchers": {"resource": "names-2"}, "duration_s": 600},
        headers={"X-API-Key": key},
    )
    # The caller sent no created_by: the gateway's name for the key must fit the field.
    assert reply.status_code == 201, (reply.status_code, reply.text)
    created_by = reply.json()["created_by"]
    assert len(created_by) <= 128
    assert created_by.startswith("team-xxx")
    assert created_by.endswith(f"(key {key.split('_')[1]})")

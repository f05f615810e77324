"""A real Prometheus, with the project's scrape configuration and rules, pointed at the running
stack: every target is up, every rule loads and evaluates, and every dashboard query runs and,
where the metrics it reads have samples, returns data."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scops.local_redis import free_port
from tests.integration.observability.conftest import ObservedStack, find_binary, running_binary
from tests.support.observability_files import DEPLOY, dashboard_queries, rule_files
from tests.support.processes import ALL_SERVICES
from tests.support.promql import selectors, substitute_grafana_variables

INTERVAL = "1s"

# Every service (the history too), and the Celery worker's task metrics.
SCRAPED = (*ALL_SERVICES, "history", "worker")


def _config(stack: ObservedStack, rules_dir: Path) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with the service targets on loopback, fast intervals,
    and no Alertmanager."""
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {n for n in jobs if n.startswith("scops-")} == {f"scops-{s}" for s in SCRAPED}
    for name in SCRAPED:
        for target in jobs[f"scops-{name}"]["static_configs"]:
            target["targets"] = [f"127.0.0.1:{stack.port(name)}"]
    config["scrape_configs"] = [jobs[f"scops-{s}"] for s in SCRAPED]
    config["global"].update(
        scrape_interval=INTERVAL, scrape_timeout=INTERVAL, evaluation_interval=INTERVAL
    )
    config.pop("alerting", None)
    config["rule_files"] = [str(rules_dir / "*.yml")]
    return config


@pytest.fixture(scope="module")
def prometheus(observed: ObservedStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = find_binary("prometheus")
    work = tmp_path_factory.mktemp("prometheus")
    rules_dir = work / "rules"
    rules_dir.mkdir()
    for name, content in rule_files().items():
        for group in content["groups"]:
            group["interval"] = INTERVAL
        (rules_dir / name).write_text(yaml.safe_dump(content))
    (work / "prometheus.yml").write_text(yaml.safe_dump(_config(observed, rules_dir)))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={work / 'prometheus.yml'}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address={url.removeprefix('http://')}",
        "--log.level=warn",
    ]
    with running_binary(args, f"{url}/-/ready", work / "prometheus.log"):
        yield url


def _api(url: str, path: str, **params: str) -> Any:
    reply = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=10)
    body = reply.json()
    assert reply.status_code == 200 and body["status"] == "success", (params, body)
    return body["data"]


def _wait(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)


def test_every_service_target_is_up(prometheus: str) -> None:
    def all_up() -> list[dict[str, Any]] | None:
        targets = _api(prometheus, "targets")["activeTargets"]
        ok = len(targets) == len(SCRAPED) and all(t["health"] == "up" for t in targets)
        return targets if ok else None

    targets = _wait(all_up)
    assert targets, _api(prometheus, "targets")["activeTargets"]
    assert {t["labels"]["job"] for t in targets} == {f"scops-{s}" for s in SCRAPED}


def test_every_rule_loads_and_evaluates(prometheus: str) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        groups = _api(prometheus, "rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        done = rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules)
        return rules if done else None

    rules = _wait(evaluated)
    assert rules, "rules not evaluated"
    expected = sum(len(g["rules"]) for c in rule_files().values() for g in c["groups"])
    assert len(rules) == expected
    failing = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert failing == {}


def _has_data(url: str, expr: str) -> bool:
    return bool(_api(url, "query", query=expr)["result"])


def test_every_dashboard_query_runs_and_returns_data(prometheus: str) -> None:
    # Two scrapes at least in every window, and one evaluation of every recording rule.
    test_every_service_target_is_up(prometheus)
    test_every_rule_loads_and_evaluates(prometheus)

    def scraped_twice() -> bool:
        counts = _api(prometheus, "query", query="count_over_time(up[10m])")["result"]
        return len(counts) == len(SCRAPED) and all(float(c["value"][1]) >= 2 for c in counts)

    assert _wait(scraped_twice), "every target scraped twice"
    empty = []
    for query in dashboard_queries():
        expr = substitute_grafana_variables(query.expr)
        result = _api(prometheus, "query", query=expr)["result"]  # errors fail here
        inputs_present = all(_has_data(prometheus, f"count({s.text()})") for s in selectors(expr))
        if inputs_present and not result:
            empty.append(f"{query.where}: {expr}")
    assert empty == [], "queries whose metrics have samples returned nothing:\n" + "\n".join(empty)

"""The shipped Prometheus rules, Alertmanager configuration and Grafana dashboards are valid,
complete and routable. promtool and amtool (Debian's prometheus and prometheus-alertmanager
packages, installed by .ci/run) check them where they are installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.gateway.alertmanager import MAX_ALERTS, RESOURCE_LABELS, SEVERITY_LABELS
from tests.support.observability_files import (
    DEPLOY,
    ROOT,
    alert_rules,
    anchors,
    dashboard_queries,
    dashboards,
    panels,
    recording_rules,
)
from tests.support.processes import SERVICES
from tests.support.promql import metric_names, substitute_grafana_variables

PROMETHEUS = DEPLOY / "prometheus"
ALERTMANAGER = DEPLOY / "alertmanager" / "alertmanager.yml"
GRAFANA = DEPLOY / "grafana"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: apt-get install prometheus)")
    return path


def _run(args: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_prometheus_scrapes_every_service() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {f"scops-{name}" for name in SERVICES} <= jobs
    for job in config["scrape_configs"]:
        if job["job_name"].startswith("scops-"):
            assert job.get("metrics_path", "/metrics") == "/metrics"


def test_promtool_accepts_the_configuration_and_rules(tmp_path: Path) -> None:
    promtool = _tool("promtool")
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["rule_files"] = [str(PROMETHEUS / "rules" / "*.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    _run([promtool, "check", "config", str(tmp_path / "prometheus.yml")])
    _run([promtool, "check", "rules", *map(str, sorted((PROMETHEUS / "rules").glob("*.yml")))])


def test_every_alert_fires_in_a_promtool_unit_test() -> None:
    promtool = _tool("promtool")
    tests = sorted((PROMETHEUS / "tests").glob("*.yml"))
    _run([promtool, "test", "rules", *map(str, tests)], cwd=PROMETHEUS / "tests")
    firing = {
        case["alertname"]
        for path in tests
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alert_rules()} == firing


def test_every_alert_reaches_the_gateway_and_has_a_runbook() -> None:
    headings = anchors((ROOT / "docs" / "troubleshooting.md").read_text())
    for rule in alert_rules():
        labels, notes = rule["labels"], rule["annotations"]
        where = rule["alert"]
        assert labels["severity"] in SEVERITY_LABELS, where
        # The gateway's receiver refuses alerts that name no resource.
        assert RESOURCE_LABELS[0] == "resource_id" and labels["resource_id"], where
        assert labels["component"], where
        assert notes["summary"] and notes["description"], where
        path, _, anchor = notes["runbook"].partition("#")
        assert path == "docs/troubleshooting.md" and anchor in headings, (where, anchor)


def test_recording_rule_names_follow_the_convention() -> None:
    for name in recording_rules():
        assert re.fullmatch(r"scops:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_alertmanager_sends_to_the_gateway_with_a_key_from_a_file() -> None:
    from services.gateway.app import create_app
    from services.gateway.config import GatewaySettings

    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    paths = set(create_app(GatewaySettings()).openapi()["paths"])
    for route in routes:
        for hook in receivers[route["receiver"]]["webhook_configs"]:
            assert hook["url"].endswith("/v1/alerts/alertmanager")
            assert "/v1/alerts/alertmanager" in paths
            auth = hook["http_config"]["authorization"]
            assert auth["type"] == "Bearer"
            assert "credentials" not in auth, "the key must come from a file, not the config"
            assert auth["credentials_file"].startswith("/etc/alertmanager/secrets/")
            # The gateway takes MAX_ALERTS per call; a smaller max_alerts drops a big group's rest.
            assert hook["max_alerts"] == MAX_ALERTS


def test_amtool_accepts_the_alertmanager_configuration() -> None:
    _run([_tool("amtool"), "check-config", str(ALERTMANAGER)])


def _unit(panel: dict[str, Any]) -> str:
    return str(panel.get("fieldConfig", {}).get("defaults", {}).get("unit") or "")


def test_dashboards_are_complete() -> None:
    found = dashboards()
    assert {"pipeline-overview.json", "detector.json", "remediation.json"} <= set(found)
    assert len({d["uid"] for d in found.values()}) == len(found)
    datasource = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    for name, dashboard in found.items():
        assert dashboard["title"] and dashboard["panels"], name
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["current"]["value"] == datasource["uid"], name
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), name
        for panel in panels(dashboard):
            where = f"{name}: {panel.get('title')!r}"
            assert panel.get("title"), where
            assert panel["datasource"]["type"] == "prometheus", where
            assert _unit(panel), f"{where} has no unit"
            assert panel["targets"], where
            for target in panel["targets"]:
                assert target["datasource"]["type"] == "prometheus", where
                assert metric_names(substitute_grafana_variables(target["expr"])), where


def test_dashboard_queries_read_recording_rules_or_raw_metrics_only() -> None:
    recording = recording_rules()
    for query in dashboard_queries():
        for name in metric_names(query.expr):
            assert ":" not in name or name in recording, (query.where, name)


def test_grafana_provisioning_loads_the_dashboards_folder() -> None:
    provider = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "smartcloudops.yml").read_text()
    )["providers"][0]
    assert provider["type"] == "file"
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
